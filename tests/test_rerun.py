"""Students run cells again all the time: every lab, run through in fast mode, then every cell
once more in the same kernel, in order, must go through without an error."""

from __future__ import annotations

from pathlib import Path

import pytest

STUDENT = sorted((Path(__file__).parents[1] / "notebooks" / "student").glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("notebook", STUDENT, ids=lambda p: p.name)
def test_every_cell_runs_a_second_time(notebook, student_run):
    run, _ = student_run
    result = run(notebook)
    assert result.status == "ok", result.error
