"""Binder builds what we test: the Python version, apt packages, requirements and postBuild.

repo2docker's own detection runs offline (``--no-build`` needs no Docker). The wheel check asks
PyPI, so that a pin bump that breaks Binder fails here rather than on a student's first click.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
BINDER = ROOT / "binder"
# Binder's image is Ubuntu 24.04 (glibc 2.39); pip needs every manylinux tag spelled out.
LINUX_X86_64 = [f"manylinux_2_{minor}_x86_64" for minor in range(39, 4, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]


def binder_python() -> str:
    """The Python version that binder/runtime.txt pins, such as ``"3.11"``."""
    text = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", text)
    assert match, f"binder/runtime.txt should read like 'python-3.11', not {text!r}"
    return match.group(1)


def test_binder_python_is_the_one_requirements_are_tested_with():
    header = (ROOT / "requirements.txt").read_text()
    tested = re.search(r"tested together on Python (\d+\.\d+)", header)
    assert tested, "requirements.txt should say which Python its pins are tested with"
    assert binder_python() == tested.group(1), (
        f"binder/runtime.txt pins Python {binder_python()} but requirements.txt is tested "
        f"with {tested.group(1)}: keep them equal"
    )


@pytest.fixture(scope="module")
def repo2docker_plan() -> str:
    """The Dockerfile and log that repo2docker would build from this checkout."""
    if importlib.util.find_spec("repo2docker") is None:
        pytest.skip("pip install -r requirements-dev.txt for repo2docker")
    result = subprocess.run(
        [sys.executable, "-m", "repo2docker", "--no-build", "--debug", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_repo2docker_picks_the_pinned_python(repo2docker_plan):
    picked = re.search(r"Building conda environment for python=(\d+\.\d+)", repo2docker_plan)
    assert picked, "repo2docker did not say which Python it picks:\n" + repo2docker_plan[:2000]
    assert picked.group(1) == binder_python()


def test_repo2docker_installs_apt_packages(repo2docker_plan):
    packages = [
        line.strip()
        for line in (BINDER / "apt.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "dataset-fashion-mnist" in packages  # the labs read Fashion-MNIST from it
    install = re.search(
        r"apt-get install --yes --no-install-recommends ([^&]+)&&", repo2docker_plan
    )
    assert install, "repo2docker would not run apt-get install for binder/apt.txt"
    assert install.group(1).split() == packages


def test_repo2docker_installs_the_pinned_requirements(repo2docker_plan):
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in repo2docker_plan
    lines = (BINDER / "requirements.txt").read_text().split()
    assert "../requirements.txt" in lines, "binder/requirements.txt should include the pins"


def test_repo2docker_runs_post_build(repo2docker_plan):
    assert "RUN ./binder/postBuild" in repo2docker_plan
    post_build = (BINDER / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post_build
    assert "binder/overrides.json" in post_build and "share/jupyter/lab/settings" in post_build


def test_settings_override_turns_off_the_news_popup():
    overrides = json.loads((BINDER / "overrides.json").read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    # JupyterLab asks a new user whether to fetch news unless this is "true" or "false".
    assert notification["fetchNews"] == "false"


@pytest.mark.network
def test_every_pin_has_a_linux_wheel_for_binders_python(tmp_path):
    """Resolve requirements.txt for Binder's Python on Linux x86-64, wheels only, dry run."""
    platforms = [arg for tag in LINUX_X86_64 for arg in ("--platform", tag)]
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        + ["--only-binary=:all:", "--implementation", "cp"]
        + ["--python-version", binder_python(), *platforms]
        + ["--target", str(tmp_path / "target"), "--report", str(report)]
        + ["-r", str(ROOT / "requirements.txt")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert result.returncode == 0, (
        f"some pins have no Linux x86-64 wheel for Python {binder_python()}, "
        "so Binder's build would fail:\n" + "\n".join(errors or [result.stderr[-3000:]])
    )
    resolved = {
        item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    for name, version in linux_pins().items():
        assert resolved.get(name) == version, f"{name}=={version} resolved to {resolved.get(name)}"


def linux_pins() -> dict[str, str]:
    """The ``name==version`` pins of requirements.txt that apply on Linux x86-64."""
    from packaging.markers import Marker

    environment = {
        "sys_platform": "linux",
        "platform_machine": "x86_64",
        "python_version": binder_python(),
    }
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        requirement, _, marker = line.split("#")[0].partition(";")
        if "==" not in requirement or (marker.strip() and not Marker(marker).evaluate(environment)):
            continue
        name, version = (part.strip() for part in requirement.split("=="))
        pins[name.lower().replace("_", "-")] = version
    assert len(pins) > 10, "requirements.txt should pin every package with =="
    return pins
