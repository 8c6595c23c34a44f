"""Rules' shell commands: the package run by this interpreter, and every config value shell-quoted."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from wfutil import REPO, SMOKE, copy_project, snakemake
from x2softmax import config as xcfg

INTERPRETER = shlex.quote(sys.executable)
SHELL_RE = re.compile(r"^Shell command: (.*)$", re.MULTILINE)


@pytest.mark.parametrize("preset", ["smoke", "paper"])
def test_every_rule_runs_the_package_with_snakemakes_interpreter(tmp_path: Path, preset: str) -> None:
    project = copy_project(tmp_path / "project")
    proc = snakemake(project, "-n", "-p", "--configfile", f"config/presets/{preset}.yaml")
    commands = SHELL_RE.findall(proc.stdout + proc.stderr)
    assert len(commands) > 10, proc.stdout[-2000:]
    for command in commands:
        assert command.startswith((f"{INTERPRETER} -m x2softmax ", f"{INTERPRETER} -m papermill ")), command


@pytest.mark.e2e
@pytest.mark.parametrize("root", ["data root/with space", "da;ta'ro\"ot"])
def test_data_root_with_shell_characters(tmp_path: Path, root: str) -> None:
    project = copy_project(tmp_path / "project")
    extra = tmp_path / "root.yaml"
    extra.write_text(yaml.safe_dump({"data": {"root": root}}))
    targets = [f"{root}/class_counts.csv", "results/aligned/IJBB/index.tsv"]
    snakemake(project, *targets, *SMOKE, str(extra))  # the venv is off PATH here too
    assert (project / root / "class_counts.csv").stat().st_size > 0
    assert (project / root / "train/train.rec").is_file()
    assert (project / "results/aligned/IJBB/index.tsv").stat().st_size > 0
    made = {p.name for p in project.iterdir()}
    assert made <= {root.split("/")[0], "results", "logs", ".snakemake"} | {p.name for p in REPO.iterdir()}, made


@pytest.mark.parametrize("root", ["-data", "data/{run}", "data\nroot", "data\n", ""])
def test_data_root_that_no_shell_or_snakemake_path_can_carry_is_refused(root: str) -> None:
    config = xcfg.load_config()
    config["data"]["root"] = root
    with pytest.raises(xcfg.ConfigError, match="'data.root'"):
        xcfg.validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
