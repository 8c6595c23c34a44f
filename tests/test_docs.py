"""README.md and docs/: a README a newcomer reads in a minute, every command in it run by a test exactly as written,
and every docs/ page that README.md or a docs/ page names exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from wfutil import REPO, copy_project, env, readme_command, readme_commands, venv_standin

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")  # a Markdown link's target, anchor dropped
DOCS_PATH = re.compile(r"(?<![\w/.])docs/[\w./-]+\.md")  # docs/NAME.md named in the text, linked or not
# Each command README.md shows, and the test that runs it exactly as README.md writes it (readme_command).
RUN_BY = {"make replicate": "tests/workflow/test_workflow.py", "make test": "tests/test_docs.py",
          "make clean": "tests/test_make_clean.py"}


def test_readme_is_at_most_120_lines() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 120, f"README.md has {len(lines)} lines"


def test_every_docs_page_named_exists() -> None:
    missing = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        targets = [page.parent / t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]
        targets += [REPO / name.rstrip(".") for name in DOCS_PATH.findall(text)]
        missing += [f"{page.relative_to(REPO)} -> {t}" for t in targets if not t.exists()]
    assert missing == []


def test_every_readme_command_is_run_by_a_test() -> None:
    assert set(readme_commands()) <= set(RUN_BY), f"commands no test runs: {set(readme_commands()) - set(RUN_BY)}"
    for command, test in RUN_BY.items():
        assert f'readme_command("{command}")' in (REPO / test).read_text(encoding="utf-8"), (command, test)


def test_readme_make_test_runs_the_suite_it_finds(tmp_path: Path) -> None:
    """`make test` as README.md writes it, in a copy whose tests/ holds one passing and then one failing test (this
    venv stands in for .venv: nothing to install)."""
    project = copy_project(tmp_path / "project")
    subprocess.run(["cp", "-r", str(REPO / ".ci"), str(project)], check=True)
    venv_standin(project)
    (project / "tests/workflow").mkdir(parents=True)
    probe = project / "tests/test_probe.py"
    probe.write_text("def test_probe() -> None:\n    assert True\n")
    done = subprocess.run(readme_command("make test"), cwd=project, env=env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    probe.write_text("def test_probe() -> None:\n    assert False\n")
    done = subprocess.run(readme_command("make test"), cwd=project, env=env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode != 0 and "1 failed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
