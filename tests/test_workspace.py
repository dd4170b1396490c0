"""The student's one command: ``python -m labhelpers workspace``, own copies of the labs."""

from __future__ import annotations

from labhelpers.__main__ import main

import pytest


def test_workspace_copies_each_lab_once_and_never_overwrites_work(tmp_path, monkeypatch, capsys):
    (tmp_path / "notebooks" / "student").mkdir(parents=True)
    for name in ["00_a.ipynb", "01_b.ipynb"]:
        (tmp_path / "notebooks" / "student" / name).write_text(f"{name} v1", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["workspace"]) == 0  # exactly as the README gives it
    mine = tmp_path / "my-labs" / "00_a.ipynb"
    assert mine.read_text(encoding="utf-8") == "00_a.ipynb v1"
    mine.write_text("my answers", encoding="utf-8")
    (tmp_path / "notebooks" / "student" / "00_a.ipynb").write_text("v2", encoding="utf-8")
    (tmp_path / "notebooks" / "student" / "02_c.ipynb").write_text("new lab", encoding="utf-8")
    capsys.readouterr()
    assert main(["workspace"]) == 0  # after a course update
    out = capsys.readouterr().out
    assert mine.read_text(encoding="utf-8") == "my answers"
    assert "kept yours: my-labs/00_a.ipynb" in out and "copied: my-labs/02_c.ipynb" in out
    assert (tmp_path / "my-labs" / "02_c.ipynb").read_text(encoding="utf-8") == "new lab"


def test_workspace_outside_the_repository_says_where_to_run_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["workspace"])
    assert "run from the repository root" in capsys.readouterr().err


def test_instructors_commands_say_where_they_moved(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["student"])
    assert stopped.value.code == 2
    assert "python -m coursetools generate" in capsys.readouterr().err
