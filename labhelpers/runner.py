"""The course runner: execute the labs headless and measure them.

Notebooks talk to the runner through two small functions:

* :func:`fast_mode` tells a notebook to shrink its data and epochs (``LABHELPERS_FAST=1``);
* :func:`report` records a headline figure, such as the test accuracy, with what a full run is
  expected to reach, so that one command tells an instructor whether the course works on their
  machines.
"""

from __future__ import annotations

import json
import os
import platform
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["NotebookResult", "fast_mode", "report", "run_notebooks"]

REPORT_FILE_VAR = "LABHELPERS_REPORT_FILE"


def fast_mode() -> bool:
    """Return True when ``LABHELPERS_FAST=1``: notebooks then use little data and few epochs."""
    return os.environ.get("LABHELPERS_FAST", "") == "1"


def _expectation(at_least: float | None, at_most: float | None) -> str:
    """Say an expectation in words, e.g. ">= 0.87" or "0.1 to 0.3"."""
    if at_least is not None and at_most is not None:
        return f"{at_least:g} to {at_most:g}"
    if at_least is not None:
        return f">= {at_least:g}"
    return f"<= {at_most:g}" if at_most is not None else ""


def report(
    name: str, value: float, *, at_least: float | None = None, at_most: float | None = None
) -> float:
    """Record a headline figure for the course runner, print it, and return it.

    Args:
        name: the figure's name in the runner's table, e.g. ``"test_accuracy"``.
        value: the figure.
        at_least: what a full-mode run on a typical laptop CPU reaches at least, if anything.
        at_most: what a full-mode run stays below, if anything (a gap, a loss, seconds).
            The runner shows the figure beside its expectation and, in full mode only, fails
            the run when the figure is outside it. Fast mode trains too little to be held to it.
    """
    value = float(value)
    expected = _expectation(at_least, at_most)
    print(f"{name}: {value:.4f}" + (f" (full mode expects {expected})" if expected else ""))
    path = os.environ.get(REPORT_FILE_VAR)
    if path:
        item = {"name": name, "value": value, "at_least": at_least, "at_most": at_most}
        with open(path, "a") as f:
            f.write(json.dumps(item) + "\n")
    return value


@dataclass
class NotebookResult:
    """What the runner measured for one notebook."""

    notebook: str
    status: str = "ok"
    wall_s: float = 0.0
    peak_mem_mb: float | None = None
    figures: dict[str, float] = field(default_factory=dict)
    expected: dict[str, str] = field(default_factory=dict)  # figure name -> ">= 0.87"
    missed: list[str] = field(default_factory=list)  # figures outside their expectation
    error: str = ""


def _peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory of a process so far, in MiB (Linux), else its current memory."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except Exception:  # the process may have ended; memory is then simply not known
        return None


def _last_line(cell) -> str:
    """The last non-empty line that a running cell printed (Keras' latest epoch line)."""
    for output in reversed(cell.get("outputs", [])):
        if output.get("output_type") == "stream":
            lines = [line for line in re.split(r"[\r\n]", output.get("text", "")) if line.strip()]
            if lines:
                return re.sub(r"\x1b\[[0-9;]*m", "", lines[-1]).strip()
    return ""


def _error_summary(cell, err: Exception) -> str:
    """One line saying what went wrong: the exception's name and the start of its message."""
    errors = [o for o in (cell.outputs if cell is not None else []) if o.output_type == "error"]
    if errors:
        text = f"{errors[0].ename}: {errors[0].evalue}"
    else:  # a timeout has no error output
        text = str(err) or repr(err)
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).split())  # IPython's colour codes
    return text if len(text) <= 300 else text[:297] + "..."


def _execute_showing_progress(client, cell, index: int, bar) -> None:
    """Execute one cell; meanwhile show the latest line it printed beside the progress bar."""
    done = threading.Event()

    def follow() -> None:
        shown = ""
        while not done.wait(1.0):
            line = _last_line(cell)
            if line and line != shown:
                shown = line
                bar.set_postfix_str(line[:70])

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    try:
        client.execute_cell(cell, index)
    finally:
        done.set()
        follower.join()


def _run_one(path: Path, name: str, out_dir: Path, timeout: int, fast: bool) -> NotebookResult:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    from tqdm import tqdm

    result = NotebookResult(notebook=name)
    executed = out_dir / name
    executed.parent.mkdir(parents=True, exist_ok=True)
    report_file = executed.with_suffix(".figures.jsonl")
    report_file.unlink(missing_ok=True)
    os.environ[REPORT_FILE_VAR] = str(report_file)  # the kernel inherits our environment

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    )
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    start = time.perf_counter()
    peak = None
    try:
        with client.setup_kernel():
            pid = client.km.provisioner.process.pid
            with tqdm(code_cells, desc=path.name, unit="cell", mininterval=2) as bar:
                for index in bar:
                    try:
                        _execute_showing_progress(client, nb.cells[index], index, bar)
                    finally:
                        peak = max(filter(None, [peak, _peak_rss_mb(pid)]), default=None)
    except (CellExecutionError, CellTimeoutError) as err:
        failing = next(
            (i for i in code_cells if any(o.output_type == "error" for o in nb.cells[i].outputs)),
            None,
        )
        result.status = "failed"
        result.error = _error_summary(nb.cells[failing] if failing is not None else None, err)
        if failing is not None:
            result.error = f"cell {failing}: {result.error}"
    except Exception as err:  # a kernel that dies or never starts must not stop the run
        result.status = "failed"
        result.error = f"{type(err).__name__}: {err}"
    finally:
        os.environ.pop(REPORT_FILE_VAR, None)
    result.wall_s = round(time.perf_counter() - start, 1)
    result.peak_mem_mb = None if peak is None else round(peak, 1)
    if report_file.exists():
        for line in report_file.read_text().splitlines():
            item = json.loads(line)
            name, value = item["name"], item["value"]
            at_least, at_most = item.get("at_least"), item.get("at_most")
            result.figures[name] = value
            if at_least is not None or at_most is not None:
                result.expected[name] = _expectation(at_least, at_most)
                too_low = at_least is not None and value < at_least
                too_high = at_most is not None and value > at_most
                if too_low or too_high:
                    result.missed.append(name)
    if result.missed and not fast and result.status == "ok":
        result.status = "failed"
        result.error = "outside expectation: " + ", ".join(result.missed)
    nbformat.write(nb, executed)
    return result


def _figure_cell(r: NotebookResult, fast: bool) -> str:
    """Figures with their expectations; full mode marks each figure ok or outside it."""
    parts = []
    for name, value in r.figures.items():
        text = f"{name} = {value:.4g}"
        if name in r.expected:
            if fast:
                mark = "not checked in fast mode"
            else:
                mark = "**outside**" if name in r.missed else "ok"
            text += f" (expected {r.expected[name]}: {mark})"
        parts.append(text)
    return "<br>".join(parts)


def _markdown(results: list[NotebookResult], meta: dict) -> str:
    lines = [
        f"# Course run ({meta['mode']} mode)",
        "",
        f"{meta['date']} on {meta['machine']}",
        "",
        "| notebook | status | wall time (s) | peak memory (MiB) | figures |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        figures = _figure_cell(r, fast=meta["mode"] == "fast")
        status = r.status if not r.error else f"{r.status}: {r.error}".replace("|", "\\|")
        lines.append(f"| {r.notebook} | {status} | {r.wall_s} | {r.peak_mem_mb} | {figures} |")
    return "\n".join(lines) + "\n"


def _names(notebooks: list[Path]) -> list[str]:
    """Names of the executed copies: paths below the notebooks' common folder.

    ``notebooks/01_x.ipynb`` and ``notebooks/student/01_x.ipynb`` become ``01_x.ipynb`` and
    ``student/01_x.ipynb``, so that same-named notebooks in subfolders do not overwrite each
    other.
    """
    folders = [p.resolve().parent for p in notebooks]
    common = Path(os.path.commonpath(folders))
    return [p.resolve().relative_to(common).as_posix() for p in notebooks]


def _save_html(notebook: Path) -> None:
    """Write an HTML page of an executed notebook, figures included, beside it."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(notebook))
    notebook.with_suffix(".html").write_text(body, encoding="utf-8")


def run_notebooks(
    notebooks: list[Path],
    out_dir: Path,
    *,
    fast: bool = False,
    timeout: int = 3600,
    html: bool = False,
) -> list[NotebookResult]:
    """Execute ``notebooks`` in order, save executed copies and a report in ``out_dir``.

    A failing notebook is recorded (with its failing cell) and the run goes on. In full mode a
    reported figure outside its expectation (see :func:`report`) fails its notebook.

    Args:
        notebooks: the notebooks, run in this order, each in its own folder.
        out_dir: where executed copies, ``report.md`` and ``report.json`` go (relative paths
            are relative to the current folder, not to the notebooks).
        fast: run in fast mode (``LABHELPERS_FAST=1``).
        timeout: seconds allowed per cell.
        html: also render each executed copy as HTML, to publish solutions.

    Returns:
        One :class:`NotebookResult` per notebook.
    """
    # Kernels run in their notebook's folder: every path handed to them must be absolute.
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = {k: os.environ.get(k) for k in ("LABHELPERS_FAST", "MPLBACKEND")}
    if fast:
        os.environ["LABHELPERS_FAST"] = "1"
    # Kernels inherit our environment: give them Jupyter's inline backend (not, say, CI's Agg)
    # so that the executed copies keep their figures.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        mode = "fast" if fast_mode() else "full"
        results = []
        for i, (path, name) in enumerate(zip(notebooks, _names(notebooks), strict=True), 1):
            print(f"[{i}/{len(notebooks)}] {path}", flush=True)
            result = _run_one(path, name, out_dir, timeout, fast=mode == "fast")
            print(f"    {result.status} in {result.wall_s} s, peak {result.peak_mem_mb} MiB")
            if result.error:
                print(f"    {result.error}")
            if html:
                _save_html(out_dir / name)
            results.append(result)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    meta = {
        "mode": mode,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
    }
    (out_dir / "report.json").write_text(
        json.dumps({**meta, "results": [asdict(r) for r in results]}, indent=2) + "\n"
    )
    table = _markdown(results, meta)
    (out_dir / "report.md").write_text(table)
    print("\n" + table)
    return results
