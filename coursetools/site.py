"""The course as a website: a static site from executed notebooks, in two editions.

The **students' edition** is built from the executed student versions (lessons with their
outputs, exercises blank, check cells saying "not answered yet"); the **solutions edition**
from the executed sources, for instructors to publish after the term. Sphinx with MyST-NB
renders the notebooks as they are, executing nothing, in sphinx-book-theme: a home page
(``docs/index.md``, the edition's note, the labs), one page per lab in course order, the guides
of ``docs/``, a search box, and on each lab page the Colab, Binder and download buttons for
that edition's notebook. This module is also the small Sphinx extension that the generated
``conf.py`` loads.

    python -m coursetools run --fast
    python -m coursetools run --fast notebooks/student/[0-9]*.ipynb --output build/course/student
    python -m coursetools site        # build/site/students/ and build/site/solutions/
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import metadata
from pathlib import Path

import nbformat

from coursetools.generate import GENERATED_TAG

__all__ = [
    "EDITIONS",
    "GUIDES",
    "LABELS",
    "SiteError",
    "build_edition",
    "build_site",
    "home_page",
    "setup",
]

# Each edition and the folder of its notebooks in the repository (where Colab, Binder and the
# repository button point).
EDITIONS = {"students": "notebooks/student", "solutions": "notebooks"}
NOTES = {
    "students": "This is the **students' edition**: every lab with its outputs, run as you will "
    "run it, and each exercise left for you to write; its check cell says *not answered yet* "
    "until you do. Open a lab in **Colab** or **Binder** from the rocket button at the top of "
    "its page, or download the notebook with the download button.",
    "solutions": "This is the **solutions edition**: every lab run with its worked solutions, "
    "between `### BEGIN SOLUTION` and `### END SOLUTION`, and the graded form of each check.",
}
LABELS = {"students": "students' edition", "solutions": "solutions edition"}
# The site's own pages, from docs/ in the repository: the home page and the guides, in the order
# of the Guides menu.
DOCS = Path("docs")
GUIDES = ["instructors", "classroom-hub", "measurements", "contributing"]
PAGES = ["index", *GUIDES]
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
_LAB_ANCHOR = re.compile(r"(?P<page>\]\([0-9]\w*\.ipynb)#(?P<anchor>[^)\s\"]+)\)")
_NOT_IN_SLUG = re.compile(r"[^\w-]")  # what MyST's heading slugs drop (spaces are dashes here)


class SiteError(RuntimeError):
    """An input of the site is missing or is not what its edition needs."""


def _repository() -> str:
    for entry in metadata("labhelpers").get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip() == "Repository":
            return url.strip()
    raise SiteError("labhelpers' metadata names no Repository: pip install -e . again")


def _link(target: str, labs: list[str], repository: str) -> str:
    """A link of a docs page as the site needs it: labs to their pages, other files to GitHub."""
    path, _, anchor = target.partition("#")
    if re.match(r"[a-z]+:", target) or not path or path.removesuffix(".md") in PAGES:
        return target  # another site, a section of this page, or another page of the site
    if Path(path).suffix == ".ipynb" and Path(path).stem in labs:
        return Path(path).name + (f"#{anchor}" if anchor else "")
    # Any other file of the repository, named from docs/ as GitHub resolves it.
    return f"{repository}/blob/main/{posixpath.normpath(f'{DOCS.as_posix()}/{target}')}"


def home_page(index: str, labs: list[str], edition: str) -> str:
    """The home page in MyST: ``docs/index.md``, the edition's note, then the labs and guides."""
    toctrees = [
        "\n".join(["```{toctree}", f":caption: {caption}", ":maxdepth: 1", "", *pages, "```"])
        for caption, pages in (("Labs", labs), ("Guides", GUIDES))
    ]
    return "\n\n".join([index.strip(), NOTES[edition], *toctrees]) + "\n"


def _pages(docs: Path, labs: list[str], edition: str) -> dict[str, str]:
    """Each page of ``docs`` in MyST, by name, with its links made the site's own."""
    repository = _repository()
    texts = {name: (docs / f"{name}.md").read_text(encoding="utf-8") for name in PAGES}
    texts["index"] = home_page(texts["index"], labs, edition)
    return {
        name: _LINK.sub(lambda m: f"]({_link(m['target'], labs, repository)})", text)
        for name, text in texts.items()
    }


def _settings(edition: str, title: str) -> dict:
    """The generated ``conf.py``: MyST-NB reads executed notebooks, sphinx-book-theme shows them."""
    return {
        "project": title,
        "author": "the keras-labs contributors",
        "copyright": "the keras-labs contributors (code: MIT; text and figures: CC BY 4.0)",
        "extensions": ["myst_nb", "coursetools.site"],
        "nb_execution_mode": "off",  # the notebooks come executed, by the course runner
        "nb_merge_streams": True,
        "myst_enable_extensions": ["dollarmath", "amsmath"],
        "myst_heading_anchors": 3,
        "html_theme": "sphinx_book_theme",
        "html_title": title,
        "html_context": {"default_mode": "light"},  # the figures are drawn on white
        "html_theme_options": {
            "repository_url": _repository(),
            "repository_branch": "main",
            "path_to_docs": EDITIONS[edition],
            "use_repository_button": True,
            "use_download_button": True,
            "launch_buttons": {
                "colab_url": "https://colab.research.google.com",
                "binderhub_url": "https://mybinder.org",
                "notebook_interface": "jupyterlab",
            },
        },
    }


def _notebooks(folder: Path, edition: str) -> list[Path]:
    """The executed labs in ``folder``, checked to be the edition's kind of notebook."""
    if not folder.is_dir():
        command = "python -m coursetools run --fast"
        if edition == "students":
            command += f" notebooks/student/[0-9]*.ipynb --output {folder}"
        raise SiteError(f"{folder} does not exist: run `{command}` first")
    notebooks = sorted(folder.glob("[0-9]*.ipynb"))
    if not notebooks:
        raise SiteError(f"{folder} holds no executed lab ([0-9]*.ipynb)")
    for path in notebooks:
        cells = nbformat.read(path, as_version=4).cells
        student = bool(cells) and GENERATED_TAG in cells[0].metadata.get("tags", [])
        if student != (edition == "students"):
            kind = "a source, with solutions" if edition == "students" else "a student version"
            raise SiteError(f"{path} is {kind}: it does not belong in the {LABELS[edition]}")
        if any(out.output_type == "error" for cell in cells for out in cell.get("outputs", [])):
            raise SiteError(f"{path} shows an error: its run failed (see report.md beside it)")
    return notebooks


def build_edition(executed: Path, out_dir: Path, edition: str, docs: Path = DOCS) -> list[str]:
    """Build one edition into ``out_dir`` from a folder of executed labs; return the warnings."""
    from sphinx.cmd.build import build_main

    notebooks = _notebooks(Path(executed), edition)
    pages = _pages(Path(docs), [p.stem for p in notebooks], edition)
    title = pages["index"].splitlines()[0].removeprefix("# ").split(":")[0]
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Sources, caches and the new site beside out_dir, which a failed build leaves as it was.
    with tempfile.TemporaryDirectory(prefix=f".{edition}-", dir=out_dir.parent) as work:
        source, html, warnings = Path(work) / "source", Path(work) / "html", Path(work) / "log"
        source.mkdir()
        for path in notebooks:
            shutil.copy2(path, source / path.name)
        for name, text in pages.items():
            (source / f"{name}.md").write_text(text, encoding="utf-8")
        conf = "".join(f"{k} = {v!r}\n" for k, v in _settings(edition, title).items())
        (source / "conf.py").write_text(conf, encoding="utf-8")
        args = ["-b", "html", "-q", "-d", f"{work}/doctrees", "-w", str(warnings)]
        if build_main([*args, str(source), str(html)]) != 0:
            raise SiteError(f"Sphinx could not build the {LABELS[edition]} (see above)")
        shutil.rmtree(out_dir, ignore_errors=True)  # no page of an earlier build stays
        html.rename(out_dir)
        return [line for line in warnings.read_text().splitlines() if line.strip()]


def build_site(
    executed: dict[str, Path], output: Path, docs: Path = DOCS
) -> dict[str, tuple[float, list[str]]]:
    """Build each edition (name -> its executed labs) into ``output``/<name>.

    Returns each edition's build time in seconds and Sphinx's warnings.
    """
    try:
        import myst_nb  # noqa: F401
        import sphinx_book_theme  # noqa: F401
    except ImportError as error:
        raise SiteError(
            f"{error}: the site needs the dev tools: pip install -r requirements-dev.txt"
        ) from None
    missing = [f"{name}.md" for name in PAGES if not (Path(docs) / f"{name}.md").is_file()]
    if missing:
        raise SiteError(f"{docs}/ lacks {', '.join(missing)}: run from the repository root")
    for edition, folder in executed.items():  # every input, before building anything
        _notebooks(Path(folder), edition)
    # The editions are independent Sphinx projects, each a single-threaded build: one process
    # per edition, side by side.
    workers = max(1, min(len(executed), os.cpu_count() or 1))
    with ProcessPoolExecutor(workers) as pool:
        builds = {
            edition: pool.submit(_timed_build, Path(folder), Path(output) / edition, edition, docs)
            for edition, folder in executed.items()
        }
        return {edition: build.result() for edition, build in builds.items()}


def _timed_build(
    executed: Path, out_dir: Path, edition: str, docs: Path
) -> tuple[float, list[str]]:
    """:func:`build_edition`, and how many seconds it took."""
    start = time.perf_counter()
    warnings = build_edition(executed, out_dir, edition, docs)
    return time.perf_counter() - start, warnings


def _lab_anchors(app, docname: str, source: list[str]) -> None:
    """Turn Jupyter's heading anchors in links between labs into the site's (MyST's slugs)."""

    def slug(match: re.Match) -> str:
        return f"{match['page']}#{_NOT_IN_SLUG.sub('', match['anchor'].lower())})"

    source[0] = _LAB_ANCHOR.sub(slug, source[0])


def setup(app) -> dict:
    """Sphinx extension: links between labs keep their section anchors on the site."""
    app.connect("source-read", _lab_anchors)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
