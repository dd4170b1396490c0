"""The Colab path of every setup cell: install labhelpers on Colab, do nothing elsewhere.

On Colab a setup cell installs the tagged release its notebook belongs to, ``v`` + the version
in pyproject.toml, so that a notebook a student saved keeps installing the labhelpers its checks
were written for (README, "Releasing a version").

No network for the install itself: a stand-in ``google.colab`` module makes the cell take the
Colab branch, and the ``%pip`` line is pointed at this clone's tag of that release, or, before
the release is tagged, at a copy of this checkout. The dependency check asks PyPI (dry run,
nothing installed) whether that labhelpers fits Colab's own TensorFlow and Keras.
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


def release_tag() -> str:
    """The tag of the release the notebooks belong to: ``v`` + pyproject.toml's version."""
    match = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert match, "pyproject.toml should have a version under [project]"
    return f"v{match.group(1)}"


def local_tag_exists(tag: str) -> bool:
    """Whether this clone has ``tag`` (a released version; absent before its release)."""
    try:
        found = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}"],
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return found.returncode == 0


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
def released_labhelpers(tmp_path_factory) -> str:
    """The requirement the Colab line names, served from this machine instead of GitHub.

    The release's tag in this clone when it has one (``git+file://...@vX.Y.Z``: what Colab
    installs, so the notebooks' imports are checked against the release itself); before the
    release is tagged, a copy of what the checkout holds for pip: the package and its metadata.
    """
    if local_tag_exists(release_tag()):
        return f"labhelpers @ git+{ROOT.as_uri()}@{release_tag()}"
    copy = tmp_path_factory.mktemp("repository")
    for name in ["pyproject.toml", "README.md"]:
        shutil.copy(ROOT / name, copy / name)
    for package in ["labhelpers", "coursetools"]:  # one distribution, two packages
        shutil.copytree(
            ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return f"labhelpers @ {copy.as_uri()}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_setup_cell_is_a_no_op_outside_colab(path):
    assert run_block(colab_block(setup_cell(path)), on_colab=False) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_setup_cell_installs_the_released_labhelpers_on_colab(path):
    calls = run_block(colab_block(setup_cell(path)), on_colab=True)
    assert len(calls) == 1, f"expected one %pip line on Colab, got {calls}"
    requirements = [arg for arg in install_args(calls[0]) if not arg.startswith("-")]
    expected = f"labhelpers @ git+{repository_url()}@{release_tag()}"
    assert requirements == [expected], (
        f"the Colab line should install the release in pyproject.toml, {expected!r}; after a "
        "version bump, update every source's line and regenerate the student versions "
        "(docs/instructors.md, 'Releasing a version')"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_install_from_the_repository_names_the_release(path):
    """No cell of a notebook installs from the repository at another tag, or at main."""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    refs = re.findall(rf"git\+{re.escape(repository_url())}(@[^\s\"'#]*)?", code)
    assert refs, f"{path.name} never installs labhelpers from {repository_url()}"
    assert set(refs) == {f"@{release_tag()}"}, (
        f"{path.name} installs from {repository_url()} at {sorted(r or 'main' for r in refs)}, "
        f"not at the release in pyproject.toml, @{release_tag()}"
    )


def test_the_release_tag_holds_its_version():
    """Once tagged, the release's pyproject.toml names the version its tag says."""
    tag = release_tag()
    if not local_tag_exists(tag):
        pytest.skip(f"{tag} is not tagged in this clone yet (it is before its release)")
    tagged = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{tag}:pyproject.toml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tagged.returncode == 0, tagged.stderr
    assert f'\nversion = "{tag[1:]}"\n' in tagged.stdout, (
        f"{tag} points at a commit whose pyproject.toml has another version"
    )


def test_colab_install_line_installs_a_working_labhelpers(tmp_path, released_labhelpers):
    """Run the notebooks' %pip line for real, from this clone's tag (or checkout), not GitHub."""
    calls = run_block(colab_block(setup_cell(NOTEBOOKS[0])), on_colab=True)
    args = [
        released_labhelpers if arg.startswith("labhelpers @") else arg
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
    assert check.returncode == 0, (
        f"the labhelpers the Colab line installs ({released_labhelpers}) lacks what the notebooks "
        "import; a notebook that needs a newer labhelpers needs a new release:\n"
        + check.stderr[-3000:]
    )


@pytest.mark.network
def test_labhelpers_keeps_colabs_tensorflow_and_keras(tmp_path, released_labhelpers):
    """Resolve labhelpers together with Colab's TensorFlow and Keras: nothing is replaced."""
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["-w", str(wheels), released_labhelpers],
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
    # Lab 5 runs LiteRT's interpreter on Colab too, as here: not TensorFlow's deprecated one.
    assert "ai-edge-litert" in resolved, "labhelpers should bring LiteRT's interpreter"
