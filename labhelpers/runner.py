"""The course runner: execute the labs headless, in order, and measure them.

Each lab's kernel gets the run's settings in its own environment
(:func:`labhelpers.course.kernel_environment`); the runner's own environment is never changed.
The notebook sends its headline figures back with :func:`labhelpers.report`. For every lab the
runner records the status, the wall time, the peak memory of the kernel, each cell's time and
the figures beside their expectations, and names the machine it ran on.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labhelpers.course import expectation, kernel_environment, read_reports

__all__ = ["CellTime", "NotebookResult", "machine_description", "run_notebooks"]

SLOWEST_CELLS = 5  # how many of each lab's slowest cells the report shows


@dataclass
class CellTime:
    """How long one code cell took, the kernel's memory after it, and its first line."""

    cell: int
    seconds: float
    source: str
    peak_mem_mb: float | None = None  # the kernel's peak resident memory so far, in MiB
    mem_mb: float | None = None  # its resident memory when the cell ended, in MiB


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
    cells: list[CellTime] = field(default_factory=list)  # in notebook order

    def slowest(self, n: int = SLOWEST_CELLS) -> list[CellTime]:
        """The ``n`` slowest cells, slowest first."""
        return sorted(self.cells, key=lambda c: -c.seconds)[:n]


def _cpu_quota() -> float | None:
    """The CPUs a cgroup allows this process (e.g. 0.5), or None when it sets no limit."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()  # cgroup v2
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "cpu" in controllers.split(","):
                folder = Path("/sys/fs/cgroup/cpu") / path.lstrip("/")
                quota = int((folder / "cpu.cfs_quota_us").read_text())
                period = int((folder / "cpu.cfs_period_us").read_text())
                return None if quota < 0 else quota / period
    except (OSError, ValueError):
        pass
    return None


def machine_description() -> str:
    """The CPU in words: model, cores, AVX-512 or not, and any limit put on it.

    TensorFlow's speed and memory depend on the CPU's instructions (AVX-512 or not) and on
    which kernels it runs, so no figure is comparable without this line.
    """
    model, info = platform.processor() or platform.machine(), {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "cpu family", "model", "flags"):
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    if "model name" in info:
        model = info["model name"]
        # Virtual machines often report only "AMD EPYC": the family and model tell its
        # generation, and so whether two machines are the same kind.
        if "cpu family" in info and "model" in info:
            model += f" (family {info['cpu family']}, model {info['model']})"
    flags = set(info.get("flags", "").split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [model, f"{cores} cores"]
    if flags:
        parts.append("AVX-512" if "avx512f" in flags else "no AVX-512")
    # TensorFlow's own switch: without it, oneDNN is on only where the CPU has AVX-512 VNNI,
    # AVX-VNNI or AMX, but every lab's setup cell sets it to 1 unless it is set already.
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if onednn is None:
        parts.append("oneDNN on (set by the labs' setup cells)")
    elif onednn in ("0", "1"):
        parts.append(f"oneDNN {'on' if onednn == '1' else 'off'} (TF_ENABLE_ONEDNN_OPTS)")
    else:
        parts.append(f"TF_ENABLE_ONEDNN_OPTS={onednn}")
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA")  # oneDNN's own switch, read to name the limit
    if isa:
        parts.append(f"oneDNN limited to {isa}")
    quota = _cpu_quota()
    if quota is not None:
        parts.append(f"CPU time capped at {quota:g} CPUs")
    parts.append(f"Python {platform.python_version()}")
    return ", ".join(parts)


def _rss_mb(pid: int, field: str = "VmHWM") -> float | None:
    """A process's peak (``VmHWM``) or current (``VmRSS``) resident memory in MiB (Linux),
    else its current memory."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    try:
        import psutil

        return round(psutil.Process(pid).memory_info().rss / 2**20, 1)
    except Exception:  # the process may have ended; memory is then simply not known
        return None


def _strip_colours(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _last_line(cell) -> str:
    """The last non-empty line that a running cell printed (Keras' latest epoch line)."""
    for output in reversed(cell.get("outputs", [])):
        if output.get("output_type") == "stream":
            lines = [line for line in re.split(r"[\r\n]", output.get("text", "")) if line.strip()]
            if lines:
                return _strip_colours(lines[-1]).strip()
    return ""


def _error_summary(cell, err: Exception) -> str:
    """One line saying what went wrong: the exception's name and the start of its message."""
    errors = [o for o in (cell.outputs if cell is not None else []) if o.output_type == "error"]
    if errors:
        text = f"{errors[0].ename}: {errors[0].evalue}"
    else:  # a timeout has no error output
        text = str(err) or repr(err)
    text = " ".join(_strip_colours(text).split())
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


def _first_line(source: str) -> str:
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    return lines[0][:80] if lines else ""


def _judge(result: NotebookResult, reports: list[dict], fast: bool) -> None:
    """Record the reported figures; in full mode a figure outside its expectation fails."""
    for item in reports:
        name, value = item["name"], item["value"]
        at_least, at_most = item.get("at_least"), item.get("at_most")
        result.figures[name] = value
        if at_least is not None or at_most is not None:
            result.expected[name] = expectation(at_least, at_most)
            outside = (at_least is not None and value < at_least) or (
                at_most is not None and value > at_most
            )
            if outside or not math.isfinite(value):  # nan meets no expectation
                result.missed.append(name)
    if result.missed and not fast and result.status == "ok":
        result.status = "failed"
        result.error = "outside expectation: " + ", ".join(result.missed)


def _run_one(
    path: Path,
    name: str,
    out_dir: Path,
    *,
    timeout: int,
    fast: bool,
    random_weights: bool,
    rerun: bool = False,
) -> NotebookResult:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    from tqdm import tqdm
    from traitlets.config import Config

    result = NotebookResult(notebook=name)
    executed = out_dir / name
    executed.parent.mkdir(parents=True, exist_ok=True)
    report_file = executed.with_suffix(".figures.jsonl")
    report_file.unlink(missing_ok=True)
    env = kernel_environment(
        dict(os.environ), fast=fast, random_weights=random_weights, report_file=report_file
    )
    # Jupyter's inline backend (not, say, CI's Agg), so that the executed copies keep figures.
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"

    nb = nbformat.read(path, as_version=4)
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    start = time.perf_counter()
    peak = None
    second_pass = None  # the cell being run again, once the first pass is through
    # A local kernel talks over Unix sockets (IPC): nothing listens on the network.
    with tempfile.TemporaryDirectory(prefix="labhelpers-kernel-") as sockets:
        config = Config()
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = f"{sockets}/kernel"
        client = NotebookClient(
            nb,
            config=config,
            kernel_name="python3",
            timeout=timeout,
            resources={"metadata": {"path": path.parent}},
        )
        try:
            with client.setup_kernel(env=env):
                pid = client.km.provisioner.process.pid
                with tqdm(code_cells, desc=path.name, unit="cell", mininterval=2) as bar:
                    for index in bar:
                        began = time.perf_counter()
                        try:
                            _execute_showing_progress(client, nb.cells[index], index, bar)
                        finally:
                            seconds = round(time.perf_counter() - began, 1)
                            peak = max(filter(None, [peak, _rss_mb(pid)]), default=None)
                            source = _first_line(nb.cells[index].source)
                            now = _rss_mb(pid, "VmRSS")
                            result.cells.append(CellTime(index, seconds, source, peak, now))
                if rerun:  # as a student who runs every cell once more, in the same kernel
                    again = f"{path.name}, again"
                    for index in tqdm(code_cells, desc=again, unit="cell", mininterval=2):
                        second_pass = index
                        nb.cells[index].outputs = []
                        client.execute_cell(nb.cells[index], index)
        except (CellExecutionError, CellTimeoutError) as err:
            failing = next(
                (
                    i
                    for i in code_cells
                    if any(o.output_type == "error" for o in nb.cells[i].outputs)
                ),
                None,
            )
            result.status = "failed"
            result.error = _error_summary(nb.cells[failing] if failing is not None else None, err)
            if failing is not None:
                result.error = f"cell {failing}: {result.error}"
            if second_pass is not None:
                result.error = f"run again after the whole notebook, {result.error}"
        except Exception as err:  # a kernel that dies or never starts must not stop the run
            result.status = "failed"
            result.error = f"{type(err).__name__}: {err}"
    result.wall_s = round(time.perf_counter() - start, 1)
    result.peak_mem_mb = peak
    _judge(result, read_reports(report_file), fast)
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
    lines += ["", "## Slowest cells", ""]
    for r in results:
        if not r.cells:
            continue
        lines += [f"**{r.notebook}** ({r.wall_s} s in all)", ""]
        for c in r.slowest():
            share = f"{c.seconds / r.wall_s:.0%}" if r.wall_s else ""
            lines.append(f"- cell {c.cell}: {c.seconds} s ({share}) `{c.source}`")
        # The first cell that brought the peak within a few MiB of its final value: the few
        # kilobytes that a later import or report call adds must not hide the cell that
        # really raised it.
        reached = next(
            (c for c in r.cells if c.peak_mem_mb and c.peak_mem_mb >= r.peak_mem_mb - 5), None
        )
        if reached is not None:
            lines.append(f"- peak memory reached in cell {reached.cell}: `{reached.source}`")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


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
    random_weights: bool = False,
    timeout: int = 3600,
    html: bool = False,
    rerun: bool = False,
) -> list[NotebookResult]:
    """Execute ``notebooks`` in order, save executed copies and a report in ``out_dir``.

    A failing notebook is recorded (with its failing cell) and the run goes on. In full mode a
    reported figure outside its expectation (see :func:`labhelpers.report`) fails its notebook.

    Args:
        notebooks: the notebooks, run in this order, each in its own folder.
        out_dir: where executed copies, ``report.md`` and ``report.json`` go (relative paths
            are relative to the current folder, not to the notebooks).
        fast: run in fast mode: little data, few epochs.
        random_weights: let pre-trained bases start from random weights where the real ones
            cannot be had (to measure time and memory offline; the figures then say so).
        timeout: seconds allowed per cell.
        html: also render each executed copy as HTML, to publish solutions.
        rerun: after the whole notebook, run every code cell once more in the same kernel, in
            order, as students do; a cell that fails the second time fails the notebook.

    Returns:
        One :class:`NotebookResult` per notebook.
    """
    # Kernels run in their notebook's folder: every path handed to them must be absolute.
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    mode = "fast" if fast else "full"
    meta = {"mode": mode, "machine": machine_description()}
    print(f"Course run, {mode} mode, on {meta['machine']}", flush=True)
    results = []
    for i, (path, name) in enumerate(zip(notebooks, _names(notebooks), strict=True), 1):
        print(f"[{i}/{len(notebooks)}] {path}", flush=True)
        result = _run_one(
            path,
            name,
            out_dir,
            timeout=timeout,
            fast=fast,
            random_weights=random_weights,
            rerun=rerun,
        )
        print(f"    {result.status} in {result.wall_s} s, peak {result.peak_mem_mb} MiB")
        if result.error:
            print(f"    {result.error}")
        if html:
            _save_html(out_dir / name)
        results.append(result)
    meta["date"] = time.strftime("%Y-%m-%d %H:%M")
    (out_dir / "report.json").write_text(
        json.dumps({**meta, "results": [asdict(r) for r in results]}, indent=2) + "\n"
    )
    table = _markdown(results, meta)
    (out_dir / "report.md").write_text(table)
    print("\n" + table)
    return results
