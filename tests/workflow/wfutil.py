"""Helpers for workflow tests: a copy of the project in a temp dir, Snakemake runs and dry-run parsing."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).absolute().parent
COPIED = ("Snakefile", "workflow", "config", "notebooks", "profiles", "envs", "src", "dvc.yaml", "params.yaml",
          "Makefile", "pyproject.toml", "requirements.lock", "README.md", ".dvc", ".dvcignore", ".gitignore")


def copy_project(dest: Path) -> Path:
    """Copy what the workflow needs (no results, no venv) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "tmp", "cache")
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def linked_copy(project: Path, dest: Path) -> Path:
    """A copy of a finished `project` in `dest` made of hard links (instant; the same files, mtimes and Snakemake
    metadata, so it plans what the project plans). Change a file with `replace_file`, never by writing into it."""
    shutil.copytree(project, dest, copy_function=os.link, ignore=shutil.ignore_patterns(".venv"))
    return dest


def replace_file(path: Path, text: str) -> None:
    """Give `path` new contents as a new file (a link of a `linked_copy` is replaced, its original left as it is)."""
    path.unlink()
    path.write_text(text)


# What `make test` puts in its children's environment: a user's shell has none of it (a make started with it
# prints "make[1]: Entering directory" lines around its output).
MAKE_VARIABLES = ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES")


def _user_environ() -> dict[str, str]:
    """os.environ without make's variables: the environment of a shell a user types into, with the working
    directory's src/ first on PYTHONPATH: a process started in a project copy runs that copy's package (a test may
    add a loss or a benchmark to it, tests/workflow/extend.py), one started in the checkout its own."""
    environ = {key: value for key, value in os.environ.items() if key not in MAKE_VARIABLES}
    return {**environ, "PYTHONPATH": os.pathsep.join(filter(None, ["src", environ.get("PYTHONPATH")]))}


def env() -> dict[str, str]:
    """The environment for subprocesses: the venv's tools first on PATH."""
    return {**_user_environ(), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def env_without_venv() -> dict[str, str]:
    """The environment with the venv off PATH: what a user who calls .venv/bin/snakemake directly has."""
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != BIN.resolve()]
    return {**_user_environ(), "PATH": os.pathsep.join(path) or os.defpath}


def snakemake(cwd: Path, *args: str, check: bool = True, timeout: int = 900,
              path_prefix: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the venv's snakemake in `cwd` (venv not on PATH: rules must not need it; `path_prefix` goes first)."""
    cmd = [str(BIN / "snakemake"), "--cores", "2", *args]
    environ = env_without_venv()
    if path_prefix is not None:
        environ["PATH"] = f"{path_prefix}{os.pathsep}{environ['PATH']}"
    proc = subprocess.run(cmd, cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted((cwd / "logs").rglob("*.log"))
                         if "rror" in p.read_text())
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-6000:]}\n{logs[-6000:]}")
    return proc


def run_tool(cmd: list[str], cwd: Path, timeout: int = 1800) -> str:
    """Run a tool (git, dvc, python) with the venv on PATH; fail the test with its output if it fails."""
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout + proc.stderr


def publish_with_dvc(project: Path, remote: Path, message: str) -> None:
    """What the trainer does before a review: git init, dvc commit every stage, dvc push to `remote`, git commit."""
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    dvc = str(BIN / "dvc")
    run_tool(["git", "init", "-q"], project)
    run_tool([dvc, "remote", "add", "-d", "store", str(remote)], project)
    run_tool([dvc, "commit", "-f"], project)
    run_tool([dvc, "push"], project)
    run_tool(["git", "add", "-A"], project)
    run_tool([*git, "commit", "-q", "-m", message], project)


JOB_RE = re.compile(r"^(?:localrule|rule) (\S+?):\s*$")
WILDCARDS_RE = re.compile(r"^\s+wildcards: (.*)$")


def planned_jobs(cwd: Path, *args: str) -> dict[str, set[str]]:
    """Jobs `snakemake -n` plans: rule name -> set of wildcard strings ('' for rules without wildcards)."""
    proc = snakemake(cwd, "-n", *args)
    return jobs_in_plan(proc.stdout + proc.stderr)


def jobs_in_plan(text: str) -> dict[str, set[str]]:
    """The jobs a dry run's output lists: rule name -> set of wildcard strings ('' for rules without wildcards)."""
    jobs: dict[str, set[str]] = defaultdict(set)
    current = None
    for line in text.splitlines():
        if match := JOB_RE.match(line):
            current = match.group(1)
            jobs[current].add("")
        elif current and (match := WILDCARDS_RE.match(line)):
            jobs[current].discard("")
            jobs[current].add(match.group(1).strip())
    return dict(jobs)


def outputs_in_plan(text: str) -> set[str]:
    """The output paths a dry run's output lists (its jobs' `output:` lines)."""
    return {path for line in text.splitlines() if line.startswith("    output: ")
            for path in line.removeprefix("    output: ").split(", ")}


def wildcard_values(jobs: dict[str, set[str]], rule: str, key: str) -> set[str]:
    """The values of wildcard `key` over the planned jobs of `rule`."""
    values = set()
    for wc in jobs.get(rule, set()):
        for part in wc.split(", "):
            name, _, value = part.partition("=")
            if name == key:
                values.add(value)
    return values


SMOKE = ("--configfile", "config/presets/smoke.yaml")
CODE_SPAN = re.compile(r"`(make [^`]+)`")


def readme_commands() -> list[str]:
    """Every command README.md shows: its code blocks' lines (comments dropped) and inline `make ...` spans."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = text.split("```")[1::2]
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()[1:]]
    return list(dict.fromkeys([line for line in lines if line] + CODE_SPAN.findall(text)))


def readme_command(command: str) -> list[str]:
    """`command` as README.md writes it, split for subprocess; fails the test when the README lost it."""
    assert command in readme_commands(), f"README.md no longer shows `{command}`"
    return shlex.split(command)


def venv_standin(project: Path) -> Path:
    """A `.venv` in `project` that is this test run's venv with its install stamps current, so that make installs
    nothing: bin/ and lib/ link to the venv, pyvenv.cfg is copied (what Python reads to find its packages)."""
    venv = project / ".venv"
    venv.mkdir()
    for name in ("bin", "lib"):
        (venv / name).symlink_to(BIN.parent / name, target_is_directory=True)
    shutil.copy(BIN.parent / "pyvenv.cfg", venv / "pyvenv.cfg")
    for stamp in (".installed", ".installed-test"):
        (venv / stamp).touch()
    return venv
