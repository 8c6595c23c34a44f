"""README.md and docs/: a README a newcomer reads in a minute, every command in it run by a test exactly as written,
every docs/ page that README.md or a docs/ page names exists, and docs/pipeline.md lists every rule of the workflow."""

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
          "make replicate PRESET=mechanism": "tests/workflow/test_static.py",  # make's dry run: its whole DAG is 20 min
          "make test-fast": "tests/test_docs.py", "make clean": "tests/test_make_clean.py"}


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
    venv stands in for .venv and an empty image for the simulated GPU machine's, which the probe does not use:
    nothing to install or build)."""
    project = copy_project(tmp_path / "project")
    subprocess.run(["cp", "-r", str(REPO / ".ci"), str(project)], check=True)
    venv_standin(project)
    (project / ".device-sim").mkdir()
    (project / ".device-sim/.built").touch()  # after the venv's stamps: make finds it up to date
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


FAST, STARTS = "def test_unit() -> None:\n    assert True\n", "import subprocess\n\n\ndef test_tool() -> None:\n    " \
    "subprocess.run(['true'], check=True)\n"
HIDDEN = "import ctypes.util\n\n\ndef test_hidden() -> None:\n    ctypes.util.find_library('c')\n"  # ldconfig


def test_readme_make_test_fast_runs_the_tests_that_start_no_process(tmp_path: Path) -> None:
    """`make test-fast` as README.md writes it, in a copy holding this suite's tier rule and three probes: the unit
    probe runs, the probe that starts a process is left out; one that starts a process unseen by the rule fails."""
    project = copy_project(tmp_path / "project")
    venv_standin(project)
    (project / "tests/workflow").mkdir(parents=True)
    for name in ("conftest.py", "support/tiers.py"):
        (project / "tests" / name).parent.mkdir(parents=True, exist_ok=True)
        (project / "tests" / name).write_text((REPO / "tests" / name).read_text(encoding="utf-8"), encoding="utf-8")
    (project / "tests/test_unit.py").write_text(FAST)
    (project / "tests/test_tool.py").write_text(STARTS)
    done = subprocess.run(readme_command("make test-fast"), cwd=project, env=env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0 and "1 passed in" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]  # of 2
    (project / "tests/test_hidden.py").write_text(HIDDEN)
    done = subprocess.run(readme_command("make test-fast"), cwd=project, env=env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode != 0 and "started a process" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]


def workflow_rules() -> set[str]:
    """Every rule the Snakefile and workflow/rules/*.smk define (those defined under a condition included); a rule
    named per item of a loop (`name: f"notebook_{nb}"`) as `notebook_*`."""
    text = "\n".join(path.read_text(encoding="utf-8")
                     for path in [REPO / "Snakefile", *sorted((REPO / "workflow/rules").glob("*.smk"))])
    named = re.findall(r'^\s*name:\s*\n?\s*f"(\w+)\{\w+\}"', text, flags=re.M)
    return set(re.findall(r"^\s*(?:local)?rule (\w+):", text, flags=re.M)) | {f"{prefix}*" for prefix in named}


def test_the_pipeline_page_lists_every_rule() -> None:
    page = (REPO / "docs/pipeline.md").read_text(encoding="utf-8")
    table = page[page.index("| stage | rule(s) |"):].split("\n\n")[0]
    listed = {name for row in table.splitlines()[2:] for name in re.findall(r"`([\w*]+)`", row.split(" | ")[1])}
    rules = workflow_rules()
    assert {"all", "train", "notebook_*", "fetch_dataset", "synthesize"} <= rules  # the parser sees each kind
    assert listed == rules, (f"missing from docs/pipeline.md: {sorted(rules - listed)}; "
                             f"no such rule: {sorted(listed - rules)}")
