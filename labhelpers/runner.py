"""The course runner: execute the labs headless and measure them.

Notebooks talk to the runner through two small functions:

* :func:`fast_mode` tells a notebook to shrink its data and epochs (``LABHELPERS_FAST=1``);
* :func:`report` records a headline figure, such as the test accuracy.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["NotebookResult", "fast_mode", "report", "run_notebooks"]

REPORT_FILE_VAR = "LABHELPERS_REPORT_FILE"


def fast_mode() -> bool:
    """Return True when ``LABHELPERS_FAST=1``: notebooks then use little data and few epochs."""
    return os.environ.get("LABHELPERS_FAST", "") == "1"


def report(name: str, value: float) -> float:
    """Record a headline figure for the course runner, print it, and return it."""
    value = float(value)
    print(f"{name}: {value:.4f}")
    path = os.environ.get(REPORT_FILE_VAR)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"name": name, "value": value}) + "\n")
    return value


@dataclass
class NotebookResult:
    """What the runner measured for one notebook."""

    notebook: str
    status: str = "ok"
    wall_s: float = 0.0
    peak_mem_mb: float | None = None
    figures: dict[str, float] = field(default_factory=dict)
    error: str = ""


def _peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory of a process so far (Linux), else its current memory."""
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


def _run_one(path: Path, out_dir: Path, timeout: int) -> NotebookResult:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    from tqdm import tqdm

    result = NotebookResult(notebook=path.name)
    report_file = out_dir / f"{path.stem}.figures.jsonl"
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
            for index in tqdm(code_cells, desc=path.name, unit="cell", mininterval=2):
                try:
                    client.execute_cell(nb.cells[index], index)
                finally:
                    peak = max(filter(None, [peak, _peak_rss_mb(pid)]), default=None)
    except (CellExecutionError, CellTimeoutError) as err:
        failing = next(
            (i for i in code_cells if any(o.output_type == "error" for o in nb.cells[i].outputs)),
            None,
        )
        message = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()  # IPython's colour codes
        first_line = message.splitlines()[-1] if message else repr(err)
        result.status = "failed"
        result.error = f"cell {failing}: {first_line}" if failing is not None else first_line
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
            result.figures[item["name"]] = item["value"]
    nbformat.write(nb, out_dir / path.name)
    return result


def _markdown(results: list[NotebookResult], meta: dict) -> str:
    lines = [
        f"# Course run ({meta['mode']} mode)",
        "",
        f"{meta['date']} on {meta['machine']}",
        "",
        "| notebook | status | wall time (s) | peak memory (MB) | figures |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        figures = ", ".join(f"{k} = {v:.4g}" for k, v in r.figures.items())
        status = r.status if not r.error else f"{r.status}: {r.error}"
        lines.append(f"| {r.notebook} | {status} | {r.wall_s} | {r.peak_mem_mb} | {figures} |")
    return "\n".join(lines) + "\n"


def run_notebooks(
    notebooks: list[Path], out_dir: Path, *, fast: bool = False, timeout: int = 3600
) -> list[NotebookResult]:
    """Execute ``notebooks`` in order, save executed copies and a report in ``out_dir``.

    A failing notebook is recorded (with its failing cell) and the run goes on.

    Returns:
        One :class:`NotebookResult` per notebook.
    """
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
        for i, path in enumerate(notebooks, 1):
            print(f"[{i}/{len(notebooks)}] {path}", flush=True)
            result = _run_one(path, out_dir, timeout)
            print(f"    {result.status} in {result.wall_s} s, peak {result.peak_mem_mb} MB")
            if result.error:
                print(f"    {result.error}")
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
