"""Every `learnsys ...` command in docs/lectures.md runs as written: in order, in one empty
folder (runs go to ./runs), each through the CLI's `main` in this process (pytest-timeout
bounds the whole), each exiting 0 without a traceback."""

from __future__ import annotations

import re
import shlex

from .conftest import REPO

DOC = REPO / "docs" / "lectures.md"


def doc_commands(text: str) -> list[str]:
    """The lines of fenced code blocks (not ```json) that start with `learnsys `, in order."""
    commands, fence = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip()
            continue
        if fence == "" and line.startswith("learnsys "):
            commands.append(line.split(" #")[0].strip())
    return commands


def test_the_doc_names_commands_only_where_the_test_runs_them():
    text = DOC.read_text(encoding="utf-8")
    commands = doc_commands(text)
    assert len(commands) >= 15
    assert all("RUN" not in c and "[" not in c.replace("[0,1]", "") for c in commands), commands  # no placeholders
    outside = [m for m in re.findall(r"`(learnsys [^`]*)`", text) if len(m.split()) > 2]
    assert not outside, f"inline commands the test cannot run; put them in a code block: {outside}"
    run_ids = [c.split("--run-id ")[1].split()[0] for c in commands if "--run-id " in c]
    assert len(run_ids) == len(set(run_ids))           # every training makes its own run


def test_every_command_in_docs_lectures_md_exits_0(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for command in doc_commands(DOC.read_text(encoding="utf-8")):
        result = cli(*shlex.split(command)[1:])
        assert result.code == 0, f"{command}\n{result.err[-2000:]}"
        assert not result.err.startswith(("error", "warning")), (command, result.err)
    assert (tmp_path / "mse.png").stat().st_size > 5000 and (tmp_path / "quad-pca.png").exists()
