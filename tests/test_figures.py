"""Every figure that the README or one lab's prose quotes comes from the measured full runs.

``docs/runs/`` keeps the course runner's reports (``report.json``) of full-mode runs, as
``python -m coursetools run`` wrote them. A quoted figure passes when it lies within a point
(0.01) of the range of that figure over those runs; a quoted range passes when each end does.
A figure quoted in the README's table of labs without an entry in ``QUOTED`` fails, so that a new
claim comes with its measurement.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parents[1]
RUNS = sorted((ROOT / "docs" / "runs").glob("*.json"))
NUMBER = r"(0\.\d+)"
SLACK = 0.01  # "about 0.85": a point either side of the measured range

# Where a figure is quoted (the README, or a notebook's prose), the words around it, and the
# runner's figures that its numbers stand for, in order.
QUOTED = [
    (
        "README.md",
        rf"from about {NUMBER} to {NUMBER} validation accuracy",
        [
            ("03_refining_the_model.ipynb", "baseline_val_accuracy"),
            ("03_refining_the_model.ipynb", "final_val_accuracy"),
        ],
    ),
    (
        "notebooks/02_convolutional_networks.ipynb",
        rf"accuracy stalls \(around {NUMBER}\)",
        [("02_convolutional_networks.ipynb", "cats_dogs_val_accuracy")],
    ),
    (
        "notebooks/03_refining_the_model.ipynb",
        rf"validation accuracy stuck\s+near {NUMBER}",
        [("02_convolutional_networks.ipynb", "cats_dogs_val_accuracy")],
    ),
    (
        "notebooks/03_refining_the_model.ipynb",
        rf"expect the final model near\s+{NUMBER}, and the baseline near {NUMBER}",
        [
            ("03_refining_the_model.ipynb", "final_val_accuracy"),
            ("03_refining_the_model.ipynb", "baseline_val_accuracy"),
        ],
    ),
    (
        "notebooks/04_transfer_learning.ipynb",
        rf"reached about {NUMBER} \(Lab 2\) and\s+{NUMBER} \(Lab 3's final model\)",
        [
            ("02_convolutional_networks.ipynb", "cats_dogs_val_accuracy"),
            ("03_refining_the_model.ipynb", "final_val_accuracy"),
        ],
    ),
]


def prose(relative: str) -> str:
    """The README's text, or a notebook's Markdown cells joined."""
    path = ROOT / relative
    if path.suffix != ".ipynb":
        return path.read_text()
    nb = nbformat.read(path, as_version=4)
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")


def measured(notebook: str, figure: str) -> list[float]:
    """That figure in every kept full run of that notebook that finished."""
    values = []
    for run in RUNS:
        report = json.loads(run.read_text())
        for result in report["results"]:
            if result["notebook"] == notebook and result["status"] == "ok":
                values.append(float(result["figures"][figure]))
    return values


def test_the_kept_runs_are_full_mode_reports_of_every_lab():
    assert RUNS, "docs/runs/ should keep the runner's report.json of at least one full run"
    labs = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
    for run in RUNS:
        report = json.loads(run.read_text())
        assert report["mode"] == "full", f"{run.name} is a {report['mode']}-mode run"
        assert sorted(r["notebook"] for r in report["results"]) == labs, run.name


@pytest.mark.parametrize("where, words, figures", QUOTED, ids=[q[1][:40] for q in QUOTED])
def test_a_quoted_figure_is_within_the_measured_runs(where, words, figures):
    match = re.search(words, prose(where))
    assert match, f"{where} no longer says {words!r}: update QUOTED in {__file__}"
    for quoted, (notebook, figure) in zip(match.groups(), figures, strict=True):
        values = measured(notebook, figure)
        assert values, f"no kept run of {notebook} reports {figure}"
        low, high = min(values) - SLACK, max(values) + SLACK
        assert low <= float(quoted) <= high, (
            f"{where} quotes {quoted} for {notebook}'s {figure}, but the runs in docs/runs/ "
            f"measured {min(values):.3f} to {max(values):.3f}"
        )


def test_every_figure_in_the_readmes_table_of_labs_is_quoted_here():
    table = "\n".join(line for line in prose("README.md").splitlines() if line.startswith("| ["))
    claimed = {
        m.span(i)
        for q in QUOTED
        if q[0] == "README.md"
        for m in re.finditer(q[1], table)
        for i in range(1, len(m.groups()) + 1)
    }
    figures = {m.span(1) for m in re.finditer(rf"\b{NUMBER}\b", table)}
    assert figures <= claimed, (
        "the README's table of labs quotes figures that no run backs: "
        f"{sorted(table[a:b] for a, b in figures - claimed)}; add them to QUOTED"
    )
