"""Invalid configs and presets: one line naming the file (YAML errors) or the key, before any job runs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import cli_capped, one_line_error

REPO = Path(__file__).resolve().parents[2]

PRESETS = {
    # preset text, what the one line must say (besides the file, for YAML-level faults)
    "YAML syntax error": ("train:\n  epochs: [1\n  lr: 0.1\n", r"is not valid YAML"),
    "tab indentation": ("train:\n\tepochs: 2\n", r"is not valid YAML"),
    "a list, not a mapping": ("- train\n- epochs\n", r"must hold a mapping"),
    "milestone beyond the last epoch": ("train:\n  epochs: 6\n  schedule: {name: multistep, milestones: [4, 9]}\n",
                                        r"train\.schedule\.milestones.*\[9\] beyond the last epoch"),
    "negative learning rate": ("train:\n  lr: -0.1\n", r"config key 'train\.lr'"),
    "zero epochs": ("train:\n  epochs: 0\n", r"config key 'train\.epochs'"),
    "unknown top-level key": ("trian:\n  epochs: 2\n", r"trian"),
    "run of an undefined loss": ("run_losses: [x2softmax, nosuchloss]\n", r"loss 'nosuchloss' has no entry"),
    "invalid loss hyperparameter": ("losses:\n  arcface: {s: -1.0}\n", r"config key 'losses\.arcface'"),
    "data root not a string": ("data:\n  root: 42\n", r"config key 'data\.root'"),
    "unknown amp mode": ("train:\n  amp: fp8\n", r"config key 'train\.amp'"),
    "unknown schedule": ("train:\n  schedule: {name: cosine}\n", r"train\.schedule\.name"),
}


@pytest.mark.parametrize("case", sorted(PRESETS))
def test_invalid_preset_is_one_line_naming_file_or_key(tmp_path: Path, case: str) -> None:
    text, expected = PRESETS[case]
    preset = tmp_path / "my preset.yaml"
    preset.write_text(text)
    code, err = cli_capped(["config-check", "--preset", str(preset)])
    line = one_line_error(err)
    assert code != 0 and re.search(expected, line), line
    if "YAML" in expected or "mapping" in expected:
        assert str(preset) in line


def test_missing_preset_file_is_named(tmp_path: Path) -> None:
    code, err = cli_capped(["config-check", "--preset", str(tmp_path / "nope.yaml")])
    assert code != 0 and f"{tmp_path / 'nope.yaml'} does not exist" in one_line_error(err)


@pytest.mark.parametrize("preset", ["PRESET=/tmp/x.yaml", None])
def test_make_checks_the_config_before_snakemake_reads_it(preset: str | None) -> None:
    """Snakemake parses the embedded default and a --configfile with its own YAML loader (no file named on an error,
    an alias bomb expanded), so make runs config-check first, with or without a preset."""
    check = "x2softmax config-check --preset /tmp/x.yaml &&" if preset else "x2softmax config-check &&"
    for target in ("data", "replicate", "dry-run"):
        plan = subprocess.run(["make", "-n", target, *filter(None, [preset])], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout
        commands = [line for line in plan.splitlines() if "snakemake" in line]
        assert commands and check in commands[0], plan
