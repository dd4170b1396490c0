"""Tests of the course runner on tiny notebooks: reporting, expectations, failures, paths."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from labhelpers.course import FAST_VAR, RANDOM_WEIGHTS_VAR, REPORT_FILE_VAR

import nbformat
import pytest
from notebook_fixtures import write_notebook

from coursetools.__main__ import main
from coursetools.runner import kernel_environment

REPO = Path(__file__).resolve().parents[1]


def test_runner_reports_figures_memory_and_failures(tmp_path, capsys):
    good = write_notebook(
        tmp_path / "01_good.ipynb",
        "import labhelpers\ncourse = labhelpers.course.from_environment()",
        "block = bytearray(300 * 2**20)  # touch 300 MB so that the peak shows it",
        "import time\ntime.sleep(3)",
        "labhelpers.report('fast', course.fast)\nlabhelpers.report('answer', 42)\n"
        "more = b'y' * 2**20  # a little more later: the cell that raised the peak stays cell 1",
    )
    bad = write_notebook(tmp_path / "02_bad.ipynb", "x = 1", "1 / 0", "never = 'reached'")
    out = tmp_path / "out"

    assert main(["run", "--fast", "--output", str(out), str(good), str(bad)]) == 1

    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == "fast"
    first, second = report["results"]
    assert first["status"] == "ok" and first["figures"] == {"fast": 1.0, "answer": 42.0}
    assert first["peak_mem_mb"] > 300
    # Every cell's time, in order, with its first line.
    assert [c["cell"] for c in first["cells"]] == [0, 1, 2, 3]
    assert first["cells"][2]["source"] == "import time"
    assert 3 <= first["cells"][2]["seconds"] < first["wall_s"]
    assert second["status"] == "failed"
    assert second["error"].startswith("cell 1:") and "ZeroDivisionError" in second["error"]
    # Executed copies are saved, the failing one with its traceback.
    executed = nbformat.read(out / "02_bad.ipynb", as_version=4)
    assert executed.cells[1].outputs[0].ename == "ZeroDivisionError"
    table = (out / "report.md").read_text()
    assert "| 01_good.ipynb | ok |" in table and "answer = 42" in table
    assert "## Slowest cells" in table and "- cell 2: 3." in table and "`import time`" in table
    assert "peak memory reached in cell 1: `block = bytearray" in table
    # The machine is named: its CPU, cores and whether it has AVX-512.
    assert report["machine"] in table and " cores, " in report["machine"]
    assert "AVX-512" in report["machine"]
    printed = capsys.readouterr()
    assert "| 02_bad.ipynb | failed: cell 1:" in printed.out
    # Kernels talk over Unix sockets: no warning about unencrypted TCP.
    assert "TCP" not in printed.out + printed.err


EXPECTING = (
    "import labhelpers\n"
    "labhelpers.report('accuracy', 0.91, at_least=0.87)\n"
    "labhelpers.report('gap', 0.30, at_most=0.10)\n"
    "labhelpers.report('ratio', float('nan'), at_most=0.5)"
)


def test_full_mode_fails_a_figure_outside_its_expectation(tmp_path, monkeypatch):
    monkeypatch.delenv("LABHELPERS_FAST", raising=False)
    nb = write_notebook(tmp_path / "01.ipynb", EXPECTING)
    out = tmp_path / "out"

    assert main(["run", "--output", str(out), str(nb)]) == 1

    result = json.loads((out / "report.json").read_text())["results"][0]
    assert result["status"] == "failed" and result["missed"] == ["gap", "ratio"]
    assert result["expected"] == {"accuracy": ">= 0.87", "gap": "<= 0.1", "ratio": "<= 0.5"}
    assert "outside expectation: gap, ratio" in result["error"]
    table = (out / "report.md").read_text()
    assert "accuracy = 0.91 (expected >= 0.87: ok)" in table
    assert "gap = 0.3 (expected <= 0.1: **outside**)" in table


def test_a_notebook_that_cannot_be_read_fails_alone_and_the_run_goes_on(tmp_path):
    broken = tmp_path / "01_broken.ipynb"
    broken.write_text('{"cells": [{"cell_type": "code", "source": "x = 1"')  # cut short
    good = write_notebook(
        tmp_path / "02_good.ipynb", "import labhelpers", "labhelpers.report('x', 1)"
    )
    out = tmp_path / "out"

    assert main(["run", "--fast", "--output", str(out), str(broken), str(good)]) == 1

    first, second = json.loads((out / "report.json").read_text())["results"]
    assert first["status"] == "failed" and str(broken) in first["error"]
    assert first["error"].startswith("cannot read") and "as a notebook" in first["error"]
    assert second["status"] == "ok" and second["figures"] == {"x": 1.0}
    assert "| 01_broken.ipynb | failed: cannot read" in (out / "report.md").read_text()


def test_fast_mode_shows_but_does_not_check_expectations(tmp_path):
    nb = write_notebook(tmp_path / "01.ipynb", EXPECTING)
    out = tmp_path / "out"

    assert main(["run", "--fast", "--output", str(out), str(nb)]) == 0

    result = json.loads((out / "report.json").read_text())["results"][0]
    assert result["status"] == "ok" and result["missed"] == ["gap", "ratio"]
    assert (
        "gap = 0.3 (expected <= 0.1: not checked in fast mode)" in (out / "report.md").read_text()
    )


def test_runner_full_mode_exit_code_zero_and_html(tmp_path, monkeypatch):
    monkeypatch.delenv("LABHELPERS_FAST", raising=False)
    nb = write_notebook(
        tmp_path / "01.ipynb",
        "import labhelpers\n"
        "labhelpers.report('fast', labhelpers.course.from_environment().fast, at_most=0)",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
    )
    assert main(["run", "--html", "--output", str(tmp_path / "out"), str(nb)]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["mode"] == "full" and report["results"][0]["figures"] == {"fast": 0.0}
    page = (tmp_path / "out" / "01.html").read_text()
    assert "<html" in page and "data:image/png;base64" in page  # the figure is in the page


@pytest.fixture
def course_copy(tmp_path):
    """A copy of the repository's package with two tiny labs, one in a subfolder."""
    root = tmp_path / "course"
    for package in ("labhelpers", "coursetools"):
        shutil.copytree(
            REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "pyproject.toml", root)
    lab = (
        "import labhelpers\n"
        "course = labhelpers.course.from_environment()\n"
        "print('Epoch 1/2 - loss: 0.69', flush=True)\n"
        "import time; time.sleep(2.5)\n"
        "labhelpers.report('accuracy', 0.9, at_least=0.87)\n"
        "labhelpers.report('fast', course.fast)\n"
        "labhelpers.report('random_weights', course.allow_random_weights)"
    )
    write_notebook(root / "notebooks" / "01_lab.ipynb", lab)
    write_notebook(root / "notebooks" / "student" / "01_lab.ipynb", lab)
    return root


def run_cli(*args, cwd, **extra_env):
    env = {k: v for k, v in os.environ.items() if k != "LABHELPERS_FAST"} | extra_env
    return subprocess.run(
        [sys.executable, "-m", "coursetools", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_readme_command_with_defaults_from_the_repository_root(course_copy):
    """``python -m coursetools run --fast``, exactly as the instructors' guide gives it."""
    done = run_cli("run", "--fast", cwd=course_copy)

    assert done.returncode == 0, done.stdout + done.stderr
    out = course_copy / "build" / "course"
    report = json.loads((out / "report.json").read_text())
    assert [r["notebook"] for r in report["results"]] == ["01_lab.ipynb"]
    assert report["results"][0]["figures"] == {"accuracy": 0.9, "fast": 1, "random_weights": 1}
    assert (out / "01_lab.ipynb").is_file()
    # The progress bar shows what the kernel is printing inside a long cell.
    assert "Epoch 1/2 - loss: 0.69" in done.stderr


def test_relative_output_from_another_folder_and_notebooks_in_subfolders(course_copy):
    elsewhere = course_copy / "elsewhere"
    elsewhere.mkdir()
    notebooks = ["../notebooks/01_lab.ipynb", "../notebooks/student/01_lab.ipynb"]

    done = run_cli("run", "--output", "out", *notebooks, cwd=elsewhere)

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((elsewhere / "out" / "report.json").read_text())
    assert [r["notebook"] for r in report["results"]] == ["01_lab.ipynb", "student/01_lab.ipynb"]
    assert all(r["figures"]["accuracy"] == 0.9 for r in report["results"])
    assert (elsewhere / "out" / "student" / "01_lab.ipynb").is_file()


def test_run_without_fast_runs_full_mode_whatever_the_shell_says(course_copy):
    done = run_cli("run", cwd=course_copy, LABHELPERS_FAST="1", LABHELPERS_RANDOM_WEIGHTS="1")

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((course_copy / "build" / "course" / "report.json").read_text())
    assert report["mode"] == "full" and "full mode" in done.stdout
    assert report["results"][0]["figures"] == {"accuracy": 0.9, "fast": 0, "random_weights": 0}


def test_random_weights_reach_the_notebook_through_its_settings(course_copy):
    done = run_cli("run", "--random-weights", cwd=course_copy)

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((course_copy / "build" / "course" / "report.json").read_text())
    assert report["results"][0]["figures"] == {"accuracy": 0.9, "fast": 0, "random_weights": 1}


def test_each_kernel_is_shut_down_before_the_next_lab_starts(tmp_path):
    """One lab's kernel (and its memory) is gone before the next lab starts."""
    pid = "import os\nlabhelpers.report('pid', os.getpid())"
    first = write_notebook(tmp_path / "01.ipynb", "import labhelpers", pid)
    probe = (
        "import os, labhelpers\nlabhelpers.report('first_alive', os.path.exists(f'/proc/{FIRST}'))"
    )
    main(["run", "--fast", "--output", str(tmp_path / "out"), str(first)])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    first_pid = int(report["results"][0]["figures"]["pid"])
    second = write_notebook(tmp_path / "02.ipynb", probe.replace("FIRST", str(first_pid)))
    main(["run", "--fast", "--output", str(tmp_path / "out2"), str(second)])
    report = json.loads((tmp_path / "out2" / "report.json").read_text())
    assert report["results"][0]["figures"] == {"first_alive": 0.0}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TF_ENABLE_ONEDNN_OPTS": "0"}, "oneDNN off"),
        ({"TF_ENABLE_ONEDNN_OPTS": "1"}, "oneDNN on"),
        ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, "oneDNN limited to AVX2"),
    ],
)
def test_machine_line_names_the_cpu_and_every_switch_that_changes_its_kernels(
    env, named, monkeypatch
):
    from coursetools.runner import machine_description

    for name in ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    line = machine_description()
    cores = len(os.sched_getaffinity(0))
    assert f"{cores} cores" in line and line.endswith(f"Python {sys.version.split()[0]}")
    assert ("AVX-512" in line) == Path("/proc/cpuinfo").exists()  # "AVX-512" or "no AVX-512"
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    family = re.search(r"^cpu family\s*:\s*(\d+)", cpuinfo, re.M)
    assert family is None or f"(family {family.group(1)}, model " in line
    assert named in line


def test_an_unchanged_notebook_is_not_run_again_unless_asked(tmp_path, capsys):
    nb = write_notebook(tmp_path / "01.ipynb", "import labhelpers", "labhelpers.report('x', 1)")
    out = tmp_path / "out"
    assert main(["run", "--fast", "--output", str(out), str(nb)]) == 0
    first = json.loads((out / "report.json").read_text())["results"][0]
    capsys.readouterr()

    assert main(["run", "--fast", "--output", str(out), str(nb)]) == 0
    printed = capsys.readouterr().out
    assert "unchanged since the passing run of" in printed and "not run again" in printed
    again = json.loads((out / "report.json").read_text())["results"][0]
    assert again["reused"] and again["figures"] == first["figures"] == {"x": 1.0}
    assert "(unchanged: the run of" in (out / "report.md").read_text()

    # Another mode, a changed notebook, or --again: it runs.
    assert main(["run", "--output", str(out), str(nb)]) == 0
    assert "not run again" not in capsys.readouterr().out
    write_notebook(nb, "import labhelpers", "labhelpers.report('x', 2)")
    assert main(["run", "--fast", "--output", str(out), str(nb)]) == 0
    assert json.loads((out / "report.json").read_text())["results"][0]["figures"] == {"x": 2.0}
    capsys.readouterr()
    assert main(["run", "--fast", "--again", "--output", str(out), str(nb)]) == 0
    assert "not run again" not in capsys.readouterr().out


def test_kernel_environment_writes_every_setting_over_the_shell():
    shell = {FAST_VAR: "1", RANDOM_WEIGHTS_VAR: "1", "HOME": "/home/student"}
    env = kernel_environment(shell, fast=False, random_weights=False, report_file=Path("/r"))
    assert env[FAST_VAR] == "0" and env[RANDOM_WEIGHTS_VAR] == "0"
    assert env[REPORT_FILE_VAR] == "/r" and env["HOME"] == "/home/student"
    assert shell[FAST_VAR] == "1", "the caller's environment is left alone"
