"""Students run cells again all the time: every lab, run through in fast mode, then every cell
once more in the same kernel, in order, must go through without an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from labhelpers.runner import run_notebooks

STUDENT = sorted((Path(__file__).parents[1] / "notebooks" / "student").glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("notebook", STUDENT, ids=lambda p: p.name)
def test_every_cell_runs_a_second_time(notebook, tmp_path):
    [result] = run_notebooks([notebook], tmp_path, fast=True, rerun=True)
    assert result.status == "ok", result.error
