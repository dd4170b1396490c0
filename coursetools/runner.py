"""The course runner: execute the labs headless, in order, and measure them.

One lab goes through four small steps: :func:`execute` runs its cells in a fresh kernel and
measures each one (time, memory), :func:`judge` holds the figures the lab reported (with
:func:`labhelpers.report`) against their expectations, and :func:`run_notebooks` saves the
executed copy and writes the report of all labs (:func:`report_markdown`). Each lab's kernel
gets the run's settings in its own environment (:func:`kernel_environment`);
the runner's own environment is never changed. A lab that fails, or cannot even be read, is
recorded with the reason and the run goes on.
"""

from __future__ import annotations

import hashlib
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

from labhelpers.course import FAST_VAR, RANDOM_WEIGHTS_VAR, REPORT_FILE_VAR, Course

from nbformat import NotebookNode

__all__ = [
    "CellTime",
    "NotebookResult",
    "execute",
    "expectation",
    "is_fresh",
    "judge",
    "kernel_environment",
    "machine_description",
    "read_reports",
    "report_markdown",
    "run_notebooks",
    "run_one",
    "stamp",
    "save_html",
]

SLOWEST_CELLS = 5  # how many of each lab's slowest cells the report shows
FULL_MODE = Course()  # as students run the labs


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
    stamp: str = ""  # what was run: see :func:`stamp`
    reused: str = ""  # the date of the earlier run whose result this is, if it was not run again

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
    # TensorFlow's own switch; importing labhelpers sets it to 1 unless it was set already.
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if onednn in ("0", "1"):
        parts.append(f"oneDNN {'on' if onednn == '1' else 'off'}")
    elif onednn:
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


def stamp(notebook: Path, course: Course) -> str:
    """A hash of everything a lab's run depends on: the notebook, labhelpers, the pins, the mode.

    An executed copy with the same stamp, from a run that passed, need not run again.
    """
    package = Path(__file__).resolve().parents[1] / "labhelpers"
    digest = hashlib.sha256(f"{course.mode} {course.random_weights}".encode())
    inputs = [Path(notebook), *sorted(package.rglob("*.py"))]
    inputs += [p for p in [package.parent / "requirements.txt"] if p.is_file()]
    for path in inputs:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def is_fresh(executed: Path, notebook: Path, course: Course) -> bool:
    """Whether ``executed`` is a passing run of ``notebook`` as it is now (same stamp)."""
    import nbformat

    try:
        copy = nbformat.read(executed, as_version=4)
    except Exception:  # missing, cut short, not a notebook: not fresh
        return False
    return copy.metadata.get("coursetools", {}).get("stamp") == stamp(notebook, course)


def _earlier_results(out_dir: Path) -> dict[str, NotebookResult]:
    """The passing results of an earlier run into ``out_dir``, by notebook, with their date."""
    try:
        earlier = json.loads((out_dir / "report.json").read_text())
    except (OSError, ValueError):
        return {}
    results = {}
    for item in earlier.get("results", []):
        if item.get("status") != "ok" or not item.get("stamp"):
            continue
        item["cells"] = [CellTime(**cell) for cell in item.get("cells", [])]
        item["reused"] = item.get("reused") or earlier.get("date", "an earlier run")
        results[item["notebook"]] = NotebookResult(**item)
    return results


def kernel_environment(
    base: dict[str, str], *, fast: bool, random_weights: bool, report_file: Path
) -> dict[str, str]:
    """The environment for a lab's kernel: ``base`` with this run's settings written over it.

    Every setting is written, "0" included, so that a value left in the caller's shell (say
    ``LABHELPERS_FAST=1``) never changes the mode the runner was asked for.
    """
    return {
        **base,
        FAST_VAR: "1" if fast else "0",
        RANDOM_WEIGHTS_VAR: "1" if random_weights else "0",
        REPORT_FILE_VAR: str(report_file),
    }


def read_reports(path: Path) -> list[dict]:
    """The figures a kernel reported (:func:`labhelpers.report`) into ``path``, in order."""
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def expectation(at_least: float | None, at_most: float | None) -> str:
    """An expectation in words, e.g. ">= 0.87" or "0.1 to 0.3" ("" for none)."""
    if at_least is not None and at_most is not None:
        return f"{at_least:g} to {at_most:g}"
    if at_least is not None:
        return f">= {at_least:g}"
    return f"<= {at_most:g}" if at_most is not None else ""


def judge(result: NotebookResult, reports: list[dict], fast: bool) -> None:
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


def _failing_cell(nb: NotebookNode, code_cells: list[int]) -> int | None:
    return next(
        (i for i in code_cells if any(o.output_type == "error" for o in nb.cells[i].outputs)),
        None,
    )


def execute(
    nb: NotebookNode, folder: Path, env: dict[str, str], timeout: int, result: NotebookResult
) -> None:
    """Run ``nb``'s code cells in order in a fresh kernel started in ``folder``.

    The outputs go into ``nb``; each cell's time and the kernel's memory after it, the peak
    memory, and the first error (with its cell) go into ``result``.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    from tqdm import tqdm
    from traitlets.config import Config

    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    # A local kernel talks over Unix sockets (IPC): nothing listens on the network.
    with tempfile.TemporaryDirectory(prefix="coursetools-kernel-") as sockets:
        config = Config()
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = f"{sockets}/kernel"
        client = NotebookClient(
            nb,
            config=config,
            kernel_name="python3",
            timeout=timeout,
            resources={"metadata": {"path": folder}},
        )
        try:
            with client.setup_kernel(env=env):
                pid = client.km.provisioner.process.pid
                with tqdm(code_cells, desc=result.notebook, unit="cell", mininterval=2) as bar:
                    for index in bar:
                        began = time.perf_counter()
                        try:
                            _execute_showing_progress(client, nb.cells[index], index, bar)
                        finally:
                            seconds = round(time.perf_counter() - began, 1)
                            peak = max(
                                filter(None, [result.peak_mem_mb, _rss_mb(pid)]), default=None
                            )
                            result.peak_mem_mb = peak
                            source = _first_line(nb.cells[index].source)
                            now = _rss_mb(pid, "VmRSS")
                            result.cells.append(CellTime(index, seconds, source, peak, now))
        except (CellExecutionError, CellTimeoutError) as err:
            failing = _failing_cell(nb, code_cells)
            result.status = "failed"
            result.error = _error_summary(nb.cells[failing] if failing is not None else None, err)
            if failing is not None:
                result.error = f"cell {failing}: {result.error}"
        except Exception as err:  # a kernel that dies or never starts must not stop the run
            result.status = "failed"
            result.error = f"{type(err).__name__}: {err}"


def run_one(path: Path, executed: Path, course: Course, timeout: int) -> NotebookResult:
    """Read, execute and judge one lab; save its executed copy as ``executed``."""
    import nbformat

    result = NotebookResult(notebook=executed.name)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # not JSON, not a notebook, unreadable: this lab fails alone
        result.status = "failed"
        result.error = f"cannot read {path} as a notebook ({type(err).__name__}: {err})"
        result.error = " ".join(result.error.split())[:300]
        return result
    executed.parent.mkdir(parents=True, exist_ok=True)
    report_file = executed.with_suffix(".figures.jsonl")
    report_file.unlink(missing_ok=True)
    env = kernel_environment(
        dict(os.environ),
        fast=course.fast,
        random_weights=course.random_weights,
        report_file=report_file,
    )
    # Jupyter's inline backend (not, say, CI's Agg), so that the executed copies keep figures.
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    start = time.perf_counter()
    execute(nb, path.parent, env, timeout, result)
    result.wall_s = round(time.perf_counter() - start, 1)
    judge(result, read_reports(report_file), course.fast)
    if result.status == "ok":  # only a passing run may stand for later ones (is_fresh)
        nb.metadata["coursetools"] = {"stamp": stamp(path, course)}
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


def report_markdown(results: list[NotebookResult], meta: dict) -> str:
    """The run's report in Markdown: one row per lab, then each lab's slowest cells."""
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
        if r.reused:
            status += f" (unchanged: the run of {r.reused})"
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


def save_html(notebook: Path) -> Path:
    """Write an HTML page of an executed notebook, figures included, beside it; return it."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(notebook))
    page = notebook.with_suffix(".html")
    page.write_text(body, encoding="utf-8")
    return page


def run_notebooks(
    notebooks: list[Path],
    out_dir: Path,
    course: Course = FULL_MODE,
    timeout: int = 3600,
    *,
    reuse: bool = True,
) -> list[NotebookResult]:
    """Execute ``notebooks`` in order, save executed copies and a report in ``out_dir``.

    A failing notebook is recorded (with its failing cell) and the run goes on. In full mode a
    reported figure outside its expectation (see :func:`labhelpers.report`) fails its notebook.

    Args:
        notebooks: the notebooks, run in this order, each in its own folder.
        out_dir: where executed copies, ``report.md`` and ``report.json`` go (relative paths
            are relative to the current folder, not to the notebooks).
        course: the run's settings: fast mode, and random weights allowed where pre-trained
            ones cannot be had (to measure time and memory offline; the figures then say so).
        timeout: seconds allowed per cell.
        reuse: keep the earlier result and executed copy of a notebook whose :func:`stamp` is
            unchanged since a passing run into ``out_dir``, instead of running it again.

    Returns:
        One :class:`NotebookResult` per notebook.
    """
    # Kernels run in their notebook's folder: every path handed to them must be absolute.
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"mode": course.mode, "machine": machine_description()}
    print(f"Course run, {course.mode} mode, on {meta['machine']}", flush=True)
    earlier = _earlier_results(out_dir) if reuse else {}
    results = []
    for i, (path, name) in enumerate(zip(notebooks, _names(notebooks), strict=True), 1):
        print(f"[{i}/{len(notebooks)}] {path}", flush=True)
        key = stamp(path, course)
        if name in earlier and is_fresh(out_dir / name, path, course):
            results.append(earlier[name])
            print(f"    unchanged since the passing run of {earlier[name].reused}: not run again")
            continue
        result = run_one(Path(path), out_dir / name, course, timeout)
        result.notebook, result.stamp = name, key
        print(f"    {result.status} in {result.wall_s} s, peak {result.peak_mem_mb} MiB")
        if result.error:
            print(f"    {result.error}")
        results.append(result)
    meta["date"] = time.strftime("%Y-%m-%d %H:%M")
    (out_dir / "report.json").write_text(
        json.dumps({**meta, "results": [asdict(r) for r in results]}, indent=2) + "\n"
    )
    table = report_markdown(results, meta)
    (out_dir / "report.md").write_text(table)
    print("\n" + table)
    return results
