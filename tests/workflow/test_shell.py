"""Rules' shell commands: the package run by Snakemake's interpreter, and every config value shell-quoted."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from wfutil import REPO, SMOKE, copy_project, snakemake
from x2softmax import config as xcfg

SHELL_RE = re.compile(r"^Shell command: (.*)$", re.MULTILINE)


@pytest.mark.parametrize("preset", ["smoke", "paper"])
def test_every_rule_calls_the_package_or_papermill_functions(dry_run: Callable[[str], str], preset: str) -> None:
    text = dry_run(preset)  # `snakemake -n -p` (conftest.py)
    commands = [c for c in SHELL_RE.findall(text) if c != "None"]  # `all` has no shell
    assert len(commands) > 10, text[-2000:]
    for command in commands:  # shell functions of workflow/rules/common.smk, bound to Snakemake's interpreter
        assert command.startswith(("x2softmax ", "papermill ")), command


def decoys(folder: Path) -> Path:
    """A folder of `x2softmax` and `papermill` commands that fail: rules must not run what PATH offers."""
    folder.mkdir()
    for name in ("x2softmax", "papermill", "python"):
        (folder / name).write_text("#!/bin/sh\necho decoy >&2\nexit 97\n")
        (folder / name).chmod(0o755)
    return folder


@pytest.mark.e2e
@pytest.mark.parametrize("root", ["data root/with space", "da;ta'ro\"ot"])
def test_data_root_with_shell_characters(tmp_path: Path, root: str) -> None:
    project = copy_project(tmp_path / "project")
    extra = tmp_path / "root.yaml"
    extra.write_text(yaml.safe_dump({"data": {"root": root}}))
    targets = [f"{root}/class_counts.csv", "results/aligned/IJBB/index.tsv"]
    snakemake(project, *targets, *SMOKE, str(extra), path_prefix=decoys(tmp_path / "decoys"))
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
