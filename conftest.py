"""The execution layer of the student versions: ``pytest notebooks/student --nbval-lax``.

nbval executes each notebook's code cells in one kernel, as a student does with "Run all".
Students run cells again all the time, so after the last cell every cell runs once more, in
order, in the same kernel: a cell that cannot run a second time fails as "Cell N, again".
A notebook whose cells all passed is saved, with its outputs, in ``build/course/student/``,
where the later checks (the website, its browser test) read it; a notebook unchanged since
such a run (the same notebook, ``labhelpers``, requirements and mode: its stamp) is not run
again: its cells are skipped, saying so. Delete the executed copy to run it anyway.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).parent
STUDENT = ROOT / "notebooks" / "student"
EXECUTED = ROOT / "build" / "course" / "student"
AGAIN = ", again"

try:
    from nbval.plugin import IPyNbCell
except ImportError:  # without nbval nothing here applies
    IPyNbCell = None

_outputs: dict[Path, dict[int, list]] = {}  # the first pass's outputs, by notebook and cell
_failed: set[Path] = set()
_last: dict[Path, str] = {}  # each notebook's last item: once it has run, save the notebook


def _course():
    from labhelpers.course import from_environment

    return from_environment()


def _saved_here(path: Path) -> bool:
    return IPyNbCell is not None and path.parent == STUDENT


def pytest_collection_modifyitems(session, config, items) -> None:
    """After each notebook's cells, the same cells once more; skip unchanged notebooks.

    The notebooks run first, so that the tests that read their executed copies (the website)
    find them, whichever order the command line names them in.
    """
    if IPyNbCell is None:
        return
    from coursetools.runner import is_fresh

    notebooks, arranged, index = [], [], 0
    while index < len(items):
        item = items[index]
        if not isinstance(item, IPyNbCell):
            arranged.append(item)
            index += 1
            continue
        cells = [cell for cell in items[index:] if cell.parent is item.parent]
        index += len(cells)
        again = [
            IPyNbCell.from_parent(
                item.parent,
                name=cell.name + AGAIN,
                cell_num=cell.cell_num,
                cell=cell.cell,
                options=cell.options,
            )
            for cell in cells
        ]
        path = Path(item.parent.path)
        if _saved_here(path) and is_fresh(EXECUTED / path.name, path, _course()):
            skip = pytest.mark.skip(
                reason=f"unchanged since its passing run in {EXECUTED / path.name}"
            )
            for cell in cells + again:
                cell.add_marker(skip)
        _last[path] = again[-1].nodeid
        notebooks += cells + again
    items[:] = notebooks + arranged


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each student version's outputs of the first pass; note any failure."""
    outcome = yield
    if IPyNbCell is None or not isinstance(item, IPyNbCell) or call.when != "call":
        return
    path = Path(item.parent.path)
    if outcome.get_result().failed:
        _failed.add(path)
    elif not item.name.endswith(AGAIN):
        _outputs.setdefault(path, {})[item.cell_num] = list(item.test_outputs or [])
    if item.nodeid == _last.get(path) and path not in _failed and _saved_here(path):
        _save(path, _outputs.get(path, {}))


def _save(path: Path, outputs: dict[int, list]) -> None:
    """Save a student version whose every cell passed, twice, with its first pass's outputs."""
    import nbformat

    from coursetools.runner import stamp

    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    if len(outputs) != len(code):
        return  # a partial run (-k): nothing to stand for the whole notebook
    for number, cell in enumerate(code):
        cell.outputs, cell.execution_count = outputs[number], number + 1
        for output in cell.outputs:
            if output.output_type == "execute_result":
                output.execution_count = number + 1
    nb.metadata["coursetools"] = {"stamp": stamp(path, _course())}
    EXECUTED.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, EXECUTED / path.name)
