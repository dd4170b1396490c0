"""The Colab path of every setup cell: install labhelpers on Colab, do nothing elsewhere.

No network for the install itself: a stand-in ``google.colab`` module makes the cell take the
Colab branch, and the ``%pip`` line is pointed at a copy of this checkout. The dependency check
asks PyPI (dry run, nothing installed) whether labhelpers fits Colab's own TensorFlow and Keras.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")) + sorted(
    (ROOT / "notebooks" / "student").glob("*.ipynb")
)
# What Colab ships, from googlecolab/backend-info (pip-freeze.txt, os-info.txt); update both
# together when Colab moves on.
COLAB_PYTHON = "3.12"
COLAB_TENSORFLOW = "2.19.0"
COLAB_KERAS = "3.10.0"
COLAB_PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(35, 4, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]


def repository_url() -> str:
    """The one place that names the repository: ``[project.urls]`` in pyproject.toml."""
    match = re.search(r'^Repository = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert match, "pyproject.toml should name the repository under [project.urls]"
    return match.group(1)


def setup_cell(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return next(cell.source for cell in nb.cells if cell.cell_type == "code")


def colab_block(source: str) -> str:
    """The ``if "google.colab" in sys.modules:`` block at the top of a setup cell."""
    match = re.search(
        r'^import sys\n+if "google\.colab" in sys\.modules:\n(?:    .*\n)+', source, re.M
    )
    assert match, "the setup cell should start with the Colab install block of Labs 1-2"
    return match.group(0)


def run_block(block: str, *, on_colab: bool) -> list[str]:
    """Run the block in IPython, with or without ``google.colab``; return the %pip lines."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    calls: list[str] = []
    shell.register_magic_function(calls.append, magic_kind="line", magic_name="pip")
    saved = sys.modules.pop("google.colab", None)
    if on_colab:
        sys.modules["google.colab"] = types.ModuleType("google.colab")
    try:
        result = shell.run_cell(block)
        result.raise_error()
    finally:
        sys.modules.pop("google.colab", None)
        if saved is not None:
            sys.modules["google.colab"] = saved
    return calls


def labhelpers_imports(source: str) -> list[str]:
    """The import statements of a setup cell that import from labhelpers."""
    tree = ast.parse(source.replace(colab_block(source), ""))
    return [
        ast.unparse(node)
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("labhelpers")
        or isinstance(node, ast.Import)
        and any(alias.name.startswith("labhelpers") for alias in node.names)
    ]


def install_args(pip_line: str) -> list[str]:
    """The arguments of a ``%pip install ...`` line, the requirement among them."""
    args = shlex.split(pip_line)
    assert args[0] == "install", f"expected '%pip install ...', got '%pip {pip_line}'"
    return args[1:]


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    """A copy of what a clone of the repository holds for pip: the package and its metadata."""
    copy = tmp_path_factory.mktemp("repository")
    for name in ["pyproject.toml", "README.md"]:
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(
        ROOT / "labhelpers", copy / "labhelpers", ignore=shutil.ignore_patterns("__pycache__")
    )
    return copy


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_setup_cell_is_a_no_op_outside_colab(path):
    assert run_block(colab_block(setup_cell(path)), on_colab=False) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_setup_cell_installs_labhelpers_from_the_repository_on_colab(path):
    calls = run_block(colab_block(setup_cell(path)), on_colab=True)
    assert len(calls) == 1, f"expected one %pip line on Colab, got {calls}"
    requirements = [arg for arg in install_args(calls[0]) if not arg.startswith("-")]
    assert requirements == [f"labhelpers @ git+{repository_url()}"]


def test_colab_install_line_installs_a_working_labhelpers(tmp_path, source_copy):
    """Run the notebooks' %pip line for real, from a local copy instead of GitHub."""
    calls = run_block(colab_block(setup_cell(NOTEBOOKS[0])), on_colab=True)
    args = [
        f"labhelpers @ {source_copy.as_uri()}" if arg.startswith("labhelpers @") else arg
        for arg in install_args(calls[0])
    ]
    target = tmp_path / "site-packages"
    # Colab has the dependencies already; --no-deps and no build isolation keep this offline.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", *args, "--no-deps", "--no-build-isolation"]
        + ["--no-index", "--target", str(target)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    # Everything the labs import from labhelpers must be in the installed package.
    imports = sorted({line for path in NOTEBOOKS for line in labhelpers_imports(setup_cell(path))})
    script = (
        "import sys\nimport labhelpers\n"
        f"assert labhelpers.__file__.startswith({str(target)!r}), labhelpers.__file__\n"
        + "\n".join(imports)
        # This environment may also have labhelpers installed in development mode: make sure
        # every module came from the fresh install.
        + "\nfor name, module in list(sys.modules.items()):\n"
        + "    if name.startswith('labhelpers'):\n"
        + f"        assert module.__file__.startswith({str(target)!r}), module.__file__\n"
    )
    check = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert check.returncode == 0, "the installed labhelpers is incomplete:\n" + check.stderr[-3000:]


@pytest.mark.network
def test_labhelpers_keeps_colabs_tensorflow_and_keras(tmp_path, source_copy):
    """Resolve labhelpers together with Colab's TensorFlow and Keras: nothing is replaced."""
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["-w", str(wheels), str(source_copy)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("labhelpers-*.whl")
    report = tmp_path / "report.json"
    platforms = [arg for tag in COLAB_PLATFORMS for arg in ("--platform", tag)]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        + ["--only-binary=:all:", "--implementation", "cp", "--python-version", COLAB_PYTHON]
        + [*platforms, "--target", str(tmp_path / "target"), "--report", str(report)]
        + [f"tensorflow=={COLAB_TENSORFLOW}", f"keras=={COLAB_KERAS}", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"labhelpers' dependency ranges in pyproject.toml do not accept Colab's TensorFlow "
        f"{COLAB_TENSORFLOW} and Keras {COLAB_KERAS}, so installing it on Colab would replace "
        "them:\n" + result.stderr[-3000:]
    )
    resolved = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert resolved["tensorflow"] == COLAB_TENSORFLOW and resolved["keras"] == COLAB_KERAS
    assert "labhelpers" in resolved
