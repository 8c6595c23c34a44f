"""Hostile configuration: shell payloads in params.yaml and in a preset, bombs and odd files as presets, numbers
that are not finite or out of range. Every case runs in a subprocess capped at 2 GiB and a time limit."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import cli_capped, one_line_error, run_capped
from x2softmax import config as xcfg

REPO = Path(__file__).resolve().parents[2]
PAYLOADS = ["x; touch {m}; false", "$(touch {m})", "`touch {m}`", "x' ; touch {m}; '", "x\ntouch {m}",
            "$(shell touch {m})", "-f /dev/null; touch {m}"]


def _stage_project(tmp: Path) -> Path:
    """What a DVC stage's command needs: the Makefile, params.yaml and a venv stamp (python: this interpreter)."""
    project = tmp / "project"
    project.mkdir()
    for name in ("Makefile", "dvc.yaml", "params.yaml", "pyproject.toml", "requirements.lock"):
        shutil.copy2(REPO / name, project / name)
    (project / ".venv/bin").mkdir(parents=True)
    (project / ".venv/bin/python").symlink_to(sys.executable)
    (project / ".venv/.installed").touch()
    return project


@pytest.mark.parametrize("key", ["preset", "data_root", "data_meta"])
@pytest.mark.parametrize("payload", PAYLOADS[:4] + PAYLOADS[5:6])
def test_dvc_stage_commands_refuse_shell_payloads_in_params(tmp_path: Path, key: str, payload: str) -> None:
    project = _stage_project(tmp_path)
    marker = tmp_path / "MARKER"
    params = yaml.safe_load((project / "params.yaml").read_text())
    params[key] = payload.format(m=marker)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    commands = [stage["cmd"] for stage in yaml.safe_load((project / "dvc.yaml").read_text())["stages"].values()]
    assert commands and all("${" not in cmd for cmd in commands), commands  # DVC interpolates nothing into a shell
    for cmd in commands:
        done = run_capped(["bash", "-c", cmd], cwd=project, timeout=60)
        assert done.returncode != 0
        assert not marker.exists(), f"{cmd!r} ran the payload of {key}"
        assert f"params.yaml: key '{key}'" in done.stderr and "Traceback" not in done.stderr, done.stderr


def _string_keys(value: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(value, dict):
        return [k for name, item in value.items() for k in _string_keys(item, (*path, name))]
    if isinstance(value, list):
        return [k for index, item in enumerate(value) for k in _string_keys(item, (*path, index))]
    return [path] if isinstance(value, str) else []


def _set(config: dict, path: tuple, value: Any) -> None:
    for part in path[:-1]:
        config = config[part]
    config[path[-1]] = value


@pytest.mark.parametrize("payload", [PAYLOADS[0], PAYLOADS[3]])
def test_rule_commands_carry_preset_strings_as_data(tmp_path: Path, payload: str) -> None:
    """Every string of the config that validation accepts as a payload is passed to a rule's command as data."""
    marker = tmp_path / "MARKER"
    base = xcfg.load_config("smoke")
    accepted = []
    for path in _string_keys(base):
        trial = xcfg.load_config("smoke")
        _set(trial, path, payload.format(m=marker))
        try:
            xcfg.validate_config(trial)
        except xcfg.ConfigError:
            continue
        accepted.append(path)
    assert ("data", "root") in accepted and ("preset",) in accepted, accepted
    hostile = xcfg.load_config("smoke")
    for path in accepted:
        _set(hostile, path, payload.format(m=marker))
    preset_file = tmp_path / "hostile.yaml"
    preset_file.write_text(yaml.safe_dump(hostile))
    from wfutil import copy_project, snakemake  # noqa: PLC0415 - the workflow tests' helpers

    project = copy_project(tmp_path / "project")
    proc = snakemake(project, "-n", "-p", "--configfile", str(preset_file))
    commands = proc.stdout.split("Shell command: ")[1:]
    assert len(commands) > 10, proc.stdout[-2000:]
    scratch = tmp_path / "scratch"
    (scratch / "logs").mkdir(parents=True)
    stubs = "x2softmax() { :; }; papermill() { :; }; "
    for command in commands:
        command = command.split("\n\n[", 1)[0].strip()
        run_capped(["bash", "-c", stubs + command], cwd=scratch, timeout=30)
        assert not marker.exists(), command[:500]


def _preset(tmp: Path, text: str | bytes) -> Path:
    path = tmp / "preset.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _alias_bomb(depth: int, width: int) -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


ODD_PRESETS = {
    "alias bomb 9x10": (_alias_bomb(10, 9), "alias bomb"),
    "alias bomb 2x40": (_alias_bomb(40, 2), "alias bomb"),
    "many aliases": ("a: &a 1\nb: [" + ", ".join(["*a"] * 500) + "]\n", "alias"),
    "latin-1": (b"preset: caf\xe9\n", "not UTF-8"),
    "utf-16": ("preset: x\n".encode("utf-16"), "not UTF-8"),
    "huge": ("# " + "x" * (2 << 20) + "\n", "bytes"),
    "deep nesting": ("a: " + "[" * 5000 + "]" * 5000 + "\n", "preset.yaml"),
    "a list": ("- 1\n- 2\n", "mapping"),
}


@pytest.mark.parametrize("case", list(ODD_PRESETS))
def test_odd_preset_files_are_refused_in_one_line(tmp_path: Path, case: str) -> None:
    text, expected = ODD_PRESETS[case]
    path = _preset(tmp_path, text)
    code, err = cli_capped(["config-check", "--preset", str(path)], timeout=60)
    line = one_line_error(err)
    assert code != 0 and str(path) in line and expected in line, line


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_preset_that_is_no_regular_file_is_refused_without_blocking(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "preset.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path = Path("/dev/zero.yaml") if Path("/dev/zero.yaml").exists() else path
        if not path.exists():
            path.symlink_to("/dev/zero")
    code, err = cli_capped(["config-check", "--preset", str(path)], timeout=30)
    line = one_line_error(err)
    assert code != 0 and "not a regular file" in line, line


BAD_NUMBERS = {
    "train.lr": (("train", "lr"), math.nan),
    "train.lr inf": (("train", "lr"), math.inf),
    "train.lr huge": (("train", "lr"), 1e6),
    "train.momentum": (("train", "momentum"), -math.inf),
    "train.momentum above 1": (("train", "momentum"), 1.5),
    "train.weight_decay": (("train", "weight_decay"), math.inf),
    "train.schedule.milestones": (("train", "schedule", "milestones"), [math.nan]),
    "train.seed": (("train", "seed"), 10**23),
    "train.seed negative": (("train", "seed"), -1),
    "seeds.extra": (("seeds", "extra"), [2**40]),
    "evaluate.bootstrap.replicates": (("evaluate", "bootstrap", "replicates"), 0),
    "losses.x2softmax.s": (("losses", "x2softmax", "s"), math.nan),
    "model.dropout": (("model", "dropout"), math.nan),
}


@pytest.mark.parametrize("case", list(BAD_NUMBERS))
def test_non_finite_and_out_of_range_numbers_are_refused_naming_the_key(tmp_path: Path, case: str) -> None:
    path, value = BAD_NUMBERS[case]
    preset: dict = {}
    node = preset
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    preset_file = _preset(tmp_path, yaml.safe_dump(preset))
    code, err = cli_capped(["config-check", "--preset", str(preset_file)], timeout=60)
    assert code != 0 and f"'{'.'.join(path[:2]) if path[0] == 'seeds' else '.'.join(path)}" in err, err
    assert "Traceback" not in err, err


@pytest.mark.parametrize("argv", [["plan", "--throughput", "-1400"], ["plan", "--throughput", "nan"],
                                  ["plan", "--throughput", "inf"], ["uncertainty", "--runs", "a", "--data-root", "d",
                                                                    "--out", "o", "--replicates", "0"],
                                  ["uncertainty", "--runs", "a", "--data-root", "d", "--out", "o", "--seed", "-5"]])
def test_cli_numbers_out_of_range_are_refused_naming_the_option(argv: list[str]) -> None:
    code, err = cli_capped(argv, timeout=60)
    option = next(a for a in argv if a.startswith("--") and a not in {"--runs", "--data-root", "--out"})
    assert code == 2 and f"argument {option}" in err and "Traceback" not in err, err
