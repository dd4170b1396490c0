"""The course settings: one switch, read in one module, one subset recipe for every lab."""

from __future__ import annotations

import json
import re
from pathlib import Path

from labhelpers import course
from labhelpers.course import Course, from_environment, stratified_sample

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def test_full_mode_unless_the_kernel_was_told_otherwise(monkeypatch):
    monkeypatch.delenv(course.FAST_VAR, raising=False)
    monkeypatch.delenv(course.RANDOM_WEIGHTS_VAR, raising=False)
    settings = from_environment(seed=7)
    assert settings == Course(fast=False, seed=7, random_weights=False)
    assert settings.mode == "full" and not settings.allow_random_weights
    monkeypatch.setenv(course.FAST_VAR, "1")
    assert from_environment().fast and from_environment().allow_random_weights
    monkeypatch.setenv(course.FAST_VAR, "0")
    assert not from_environment().fast


def test_random_weights_are_allowed_in_fast_mode_or_when_asked_for(monkeypatch):
    monkeypatch.setenv(course.FAST_VAR, "0")
    monkeypatch.setenv(course.RANDOM_WEIGHTS_VAR, "1")
    settings = from_environment()
    assert not settings.fast and settings.allow_random_weights


def test_epochs_and_pick_follow_the_mode():
    full, fast = Course(fast=False), Course(fast=True)
    assert full.epochs(15) == 15 and fast.epochs(15) == 2 and fast.epochs(60, fast=3) == 3
    assert fast.epochs(1) == 1  # never more in fast mode than in full mode
    assert full.pick(5, fast=3) == 5 and fast.pick(5, fast=3) == 3


def test_subset_is_stratified_seeded_and_keeps_the_order():
    y = np.repeat(np.arange(4), [400, 300, 200, 100])  # sorted by class, unbalanced
    x = np.arange(len(y)) * 10
    fast = Course(fast=True, seed=3)
    xs, ys = fast.subset(x, y, fast=100)
    assert len(ys) == 100 and np.bincount(ys).tolist() == [40, 30, 20, 10]
    assert np.all(np.diff(xs) > 0), "the subset keeps the original order"
    np.testing.assert_array_equal(xs, x[np.flatnonzero(np.isin(x, xs))])  # rows stay paired
    np.testing.assert_array_equal(fast.subset(x, y, fast=100)[0], xs)  # same seed, same subset
    other = Course(fast=True, seed=4).subset(x, y, fast=100)[0]
    assert not np.array_equal(other, xs)
    assert Course(fast=False).subset(x, y, fast=100)[0] is x  # full mode: everything


def test_stratified_sample_of_everything_is_everything():
    labels = np.array([0, 1, 1, 0])
    np.testing.assert_array_equal(stratified_sample(labels, 10, seed=0), np.arange(4))


def test_setup_seeds_and_says_the_mode(monkeypatch, capsys):
    monkeypatch.setenv(course.FAST_VAR, "1")
    settings = course.setup(seed=5)
    first = np.random.rand()
    course.setup(seed=5)
    assert np.random.rand() == first  # seeded again: the same story
    assert settings.fast and settings.seed == 5
    out = capsys.readouterr().out
    assert "Keras" in out and "TensorFlow" in out and "quick run" in out
    monkeypatch.delenv(course.FAST_VAR)
    course.setup(seed=5)
    assert "mode" not in capsys.readouterr().out  # a student's kernel: versions only


def test_report_prints_and_records_for_the_runner(monkeypatch, tmp_path, capsys):
    record = tmp_path / "figures.jsonl"
    monkeypatch.setenv(course.REPORT_FILE_VAR, str(record))
    assert course.report("accuracy", np.float32(0.5), at_least=0.4) == 0.5
    assert capsys.readouterr().out == "accuracy: 0.5\n"  # no expectation: that is the runner's
    assert [json.loads(line) for line in record.read_text().splitlines()] == [
        {"name": "accuracy", "value": 0.5, "at_least": 0.4, "at_most": None}
    ]


PACKAGE_FILES = sorted((ROOT / "labhelpers").rglob("*.py"))


@pytest.mark.parametrize("path", PACKAGE_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_only_the_course_module_reads_the_environment(path):
    if path.name == "course.py":
        return
    text = path.read_text(encoding="utf-8")
    assert "LABHELPERS_FAST" not in text and "fast_mode" not in text
    assert "getenv" not in text
    if path.name == "runner.py":
        # It builds each kernel's environment from its own (which it never changes) and names
        # a oneDNN limit on the machine; it reads none of labhelpers' settings.
        assert not re.search(r"os\.environ\S*LABHELPERS_", text)
    else:
        assert "os.environ" not in text, f"{path.name} reads the environment"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_every_lab_makes_the_one_setup_call_and_never_mentions_ci(path):
    code = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    setup_cells = [i for i, source in enumerate(code) if "labhelpers.setup(" in source]
    assert setup_cells == [0], "the first code cell, and only it, calls labhelpers.setup"
    assert re.search(r"^course = labhelpers\.setup\(seed=\d+\)$", code[0], re.MULTILINE)
    text = "\n".join(code)
    assert "LABHELPERS_FAST" not in text and "os.environ.get" not in text
    assert not re.search(r"\bCI\b", text), "lesson code never mentions CI"
    assert "set_random_seed(42)" not in code[0], "setup() seeds"
