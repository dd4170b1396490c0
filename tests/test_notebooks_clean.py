"""Every committed notebook is clean: no outputs, no execution counts, no editor noise."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
ALLOWED_NOTEBOOK_METADATA = {"kernelspec", "language_info", "colab"}
# nbgrader's cell metadata is part of the lab (answer, check and read-only cells); the
# "Create Assignment" toolbar leaves nothing else behind.
ALLOWED_CELL_METADATA = {"tags", "nbgrader"}


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert set(nb.metadata) <= ALLOWED_NOTEBOOK_METADATA, "editor metadata; clear it"
    for index, cell in enumerate(nb.cells):
        assert set(cell.metadata) <= ALLOWED_CELL_METADATA, f"cell {index} has editor metadata"
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} has outputs: clear them before committing"
            assert cell.execution_count is None, f"cell {index} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_starts_with_title_and_badges(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert "colab.research.google.com" in first.source and "mybinder.org" in first.source


def test_the_guides_command_clears_outputs_and_editor_metadata(tmp_path):
    """The contributors' guide's command, as written, makes an executed notebook clean."""
    import subprocess
    import sys

    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    code = next(cell for cell in nb.cells if cell.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", text="hello")]
    code.execution_count = 1
    code.metadata["collapsed"] = True
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / NOTEBOOKS[0].name)
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        "jupyter nbconvert --clear-output --ClearMetadataPreprocessor.enabled=True "
        "--ClearMetadataPreprocessor.clear_notebook_metadata=False --inplace notebooks/*.ipynb",
        shell=True,
        cwd=tmp_path,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)},
        check=True,
        capture_output=True,
    )
    test_notebook_is_committed_clean(tmp_path / "notebooks" / NOTEBOOKS[0].name)
