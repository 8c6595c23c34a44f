"""Hostile configuration: shell payloads in params.yaml and in a preset (one payload through a real `dvc repro`, whose
shell runs the stage commands, the others through the stage's command alone; and through the rules), bombs and odd
files as presets, numbers that are not finite or out of range. Every case runs in a subprocess capped at 2 GiB and a
time limit."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import cli_capped, last_line, one_line_error, run_capped
from x2softmax import config as xcfg

PAYLOADS = ["x; touch {m}; false", "$(touch {m})", "`touch {m}`", "x' ; touch {m}; '", "x\ntouch {m}",
            "$(shell touch {m})", "-f /dev/null; touch {m}"]


def _dvc_project(tmp: Path) -> Path:
    """A copy of the project DVC can run (a git repository; .venv/bin: this venv's python, snakemake, x2softmax)."""
    from wfutil import copy_project  # noqa: PLC0415 - the workflow tests' helpers

    project = copy_project(tmp / "project")
    (project / ".venv/bin").mkdir(parents=True)
    (project / ".venv/bin/python").symlink_to(sys.executable)
    for tool in ("snakemake", "x2softmax"):
        (project / ".venv/bin" / tool).symlink_to(Path(sys.executable).parent / tool)
    (project / ".venv/.installed").touch()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True, timeout=30)
    return project


def _dvc_repro(project: Path, stage: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`dvc repro -s STAGE`: DVC runs the stage's command through its shell (capped like every case)."""
    return run_capped([str(Path(sys.executable).parent / "dvc"), "repro", "-s", stage], cwd=project, timeout=timeout)


def _project_line(stderr: str, stage: str) -> str:
    """The line right above DVC's closing line, as DVC prints a failed stage: DVC's names only the command that failed
    (the stage's call of x2softmax.dvc_stage, no make in between), so the project's own line, naming the file and key,
    must come right before it."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr and len(lines) >= 2, stderr
    assert re.fullmatch(f"ERROR: failed to reproduce '{stage}': failed to run: \\.venv/bin/python -m "
                        f"x2softmax\\.dvc_stage {stage}, exited with [12]", lines[-1]), stderr
    return lines[-2]


def _stage(project: Path, stage: str, real_dvc: bool, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str],
                                                                                   str]:
    """A DVC stage on `project`: through a real `dvc repro -s STAGE` (slow: a few of the cases) or its command alone
    (what DVC's shell runs; dvc.yaml interpolates nothing into it); (the process, the project's last line)."""
    if real_dvc:
        done = _dvc_repro(project, stage, timeout)
        return done, _project_line(done.stderr, stage)
    done = run_capped([sys.executable, "-m", "x2softmax.dvc_stage", stage], cwd=project, timeout=timeout)
    return done, last_line(done.stderr)


def _markers(tmp: Path) -> list[Path]:
    """Files a payload made (folders named after a payload are data paths, not markers)."""
    return [path for path in tmp.rglob("MARKER*") if path.is_file()]


def _write_params(project: Path, **values: str) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params.update(values)
    (project / "params.yaml").write_text(yaml.safe_dump(params))


REAL_DVC = {PAYLOADS[0]}  # the payloads run through a real `dvc repro` (each takes seconds; the rest: DVC's command)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_dvc_repro_runs_no_payload_from_params(tmp_path: Path, payload: str) -> None:
    """Every key of params.yaml a payload (one marker per key): both stages, as DVC runs them, refuse in one line, the
    last before DVC's own."""
    project = _dvc_project(tmp_path)
    keys = yaml.safe_load((project / "params.yaml").read_text())
    values = {key: payload.format(m=tmp_path / f"MARKER-{key}") for key in keys}
    _write_params(project, **values)
    for dep in ("train", "val", "IJBB", "IJBC"):  # the replicate stage's inputs, so that DVC runs its command
        (project / values["data_root"] / dep).mkdir(parents=True, exist_ok=True)
    (project / "results").mkdir()
    (project / "results/preflight.json").write_text("{}")
    for stage in ("data", "replicate"):
        done, line = _stage(project, stage, payload in REAL_DVC)
        assert not _markers(tmp_path), f"dvc repro {stage} ran a payload of params.yaml: {_markers(tmp_path)}"
        assert done.returncode != 0 and one_line_error(done.stderr) == line, done.stderr
        assert line.startswith(f"x2softmax dvc {stage}: params.yaml: key 'preset'"), line


@pytest.mark.parametrize("key", ["preset", "data_root", "data_meta"])
def test_dvc_stage_names_the_params_key(tmp_path: Path, key: str) -> None:
    project = _dvc_project(tmp_path)
    _write_params(project, **{key: PAYLOADS[0].format(m=tmp_path / "MARKER")})
    done, line = _stage(project, "data", real_dvc=False)
    assert done.returncode != 0 and not _markers(tmp_path), done.stderr
    assert line.startswith(f"x2softmax dvc data: params.yaml: key '{key}'") and one_line_error(done.stderr) == line


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


ACCEPTED = {("preset",), ("data", "root")}  # the string keys validation lets through: carried to rules as data


def _hostile_preset(project: Path, values: dict[tuple, str]) -> None:
    """The smoke preset merged over the default, with `values` set, as config/presets/hostile.yaml in params.yaml."""
    preset = xcfg.load_config("smoke")
    for path, value in values.items():
        _set(preset, path, value)
    (project / "config/presets/hostile.yaml").write_text(yaml.safe_dump(preset))
    _write_params(project, preset="config/presets/hostile.yaml")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_dvc_repro_refuses_a_preset_with_payloads_in_every_string_key(tmp_path: Path, payload: str) -> None:
    """Every string of the merged smoke config a payload: DVC's data stage stops at the config check, in one line
    naming the keys the schema refuses, the last before DVC's own (each key alone: the next test; ACCEPTED ones run
    through the rules)."""
    project = _dvc_project(tmp_path)
    keys = _string_keys(xcfg.load_config("smoke"))
    _hostile_preset(project, {path: payload.format(m=tmp_path / "MARKER") for path in keys})
    done, line = _stage(project, "data", payload in REAL_DVC)
    assert not _markers(tmp_path), f"dvc repro data ran a payload of the preset: {_markers(tmp_path)}"
    assert done.returncode != 0 and one_line_error(done.stderr) == line, done.stderr
    assert line.startswith("x2softmax config-check: ") and "config key 'run_losses.0'" in line, line


_EACH_KEY = """
import json, sys
from x2softmax import config as xcfg
payload = sys.argv[2]
for path in json.loads(sys.argv[1]):
    trial = node = xcfg.load_config("smoke")
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = payload
    try:
        xcfg.validate_config(trial)
        print(json.dumps([path, None]))
    except xcfg.ConfigError as err:
        print(json.dumps([path, str(err)]))
"""


def _each_key_alone(keys: list[tuple], payload: str) -> list[tuple[tuple, str | None]]:
    """Each key of the smoke config set alone to `payload` and validated, in one capped process: (key, error)."""
    done = run_capped([sys.executable, "-c", _EACH_KEY, json.dumps(keys), payload], timeout=60)
    assert done.returncode == 0, done.stderr
    return [(tuple(path), message) for path, message in map(json.loads, done.stdout.splitlines())]


@pytest.mark.parametrize("payload", [PAYLOADS[0], PAYLOADS[4]])
def test_each_preset_string_key_alone_is_refused_naming_it_or_carried_as_data(tmp_path: Path, payload: str) -> None:
    """Each string key of the merged smoke config set alone to a payload: validation refuses it naming the key (the
    CLI prints it as one line, as the test above shows), or it is one of ACCEPTED."""
    keys = _string_keys(xcfg.load_config("smoke"))
    results = _each_key_alone(keys, payload.format(m=tmp_path / "MARKER"))
    assert [path for path, _ in results] == keys and not _markers(tmp_path)
    for path, message in results:
        dotted, parent = ".".join(map(str, path)), ".".join(map(str, path[:-1]))
        # a loss hyperparameter is named as the loss library names it: config key '...hparams': ... gradient=...
        named = message and (f"'{dotted}'" in message or f"'{parent}'" in message and f" {path[-1]}=" in message)
        assert named or message is None and tuple(path) in ACCEPTED, (dotted, message)


def test_dvc_repro_runs_the_data_rules_with_accepted_payloads_as_data(tmp_path: Path) -> None:
    """The keys validation accepts, each a payload, through DVC's data stage for real: Snakemake generates and checks
    the data under the literal folder name, and nothing runs."""
    project = _dvc_project(tmp_path)
    marker = tmp_path / "MARKER"
    root = "x; touch {m}; false $(touch {m}) `touch {m}` x' ; touch {m}; ' $(shell touch {m}) #".format(m=marker)
    _hostile_preset(project, {("data", "root"): root, ("preset",): PAYLOADS[6].format(m=marker) + " #"})
    done = _dvc_repro(project, "data", timeout=300)
    assert not _markers(tmp_path), f"dvc repro data ran a payload of the preset: {_markers(tmp_path)}"
    assert (project / root / "MANIFEST.json").is_file() and (project / "results/preflight.json").is_file(), \
        done.stdout[-3000:] + done.stderr[-3000:]
    # params.yaml's data_root is still results/data: DVC finds the stage's outputs missing, after the command ran.
    assert "output 'results/data/train' does not exist" in done.stderr, done.stderr[-3000:]


@pytest.mark.parametrize("payload", [PAYLOADS[0], PAYLOADS[3]])
def test_rule_commands_carry_preset_strings_as_data(tmp_path: Path, payload: str) -> None:
    """Every string of the config that validation accepts as a payload is passed to a rule's command as data."""
    marker = tmp_path / "MARKER"
    base = xcfg.load_config("smoke")
    accepted = [path for path, error in _each_key_alone(_string_keys(base), payload.format(m=marker)) if not error]
    assert set(accepted) == ACCEPTED, accepted
    hostile = xcfg.load_config("smoke")
    for path in accepted:
        _set(hostile, path, payload.format(m=marker))
    preset_file = tmp_path / "hostile.yaml"
    preset_file.write_text(yaml.safe_dump(hostile))
    from wfutil import BIN, copy_project, env_without_venv  # noqa: PLC0415 - the workflow tests' helpers

    project = copy_project(tmp_path / "project")
    proc = run_capped([str(BIN / "snakemake"), "--cores", "2", "-n", "-p", "--configfile", str(preset_file)],
                      cwd=project, timeout=300, env=env_without_venv())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
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
