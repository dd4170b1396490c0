"""The course's tools for instructors and contributors: ``python -m coursetools COMMAND``.

- :mod:`coursetools.labs`: the list of labs;
- :mod:`coursetools.runner`: execute the labs headless, measure and judge them (``run``);
- :mod:`coursetools.generate`: the student versions, made by nbgrader's preprocessors
  (``generate``);
- :mod:`coursetools.grading`: nbgrader's settings for a term (``grading``);
- :mod:`coursetools.classroom`: the offline data folder (``classroom``);
- :mod:`coursetools.site`: the course website from executed notebooks (``site``).

Students never need these: the notebooks import :mod:`labhelpers` only. Install with
``pip install -r requirements.txt -r requirements-dev.txt -e .``.
"""
