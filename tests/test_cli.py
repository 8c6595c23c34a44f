"""The `x2softmax` command line: parsing and errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from x2softmax.cli import build_parser, main


def test_every_command_parses() -> None:
    parser = build_parser()
    assert parser.parse_args(["data", "synth", "--out", "d", "--settings", '{"seed": 1}']).settings == {"seed": 1}
    args = parser.parse_args(["evaluate", "--model", "m.pt", "--data-root", "d", "--benchmarks", "lfw,cfp_fp",
                              "--out", "o"])
    assert args.benchmarks == ["lfw", "cfp_fp"]
    assert parser.parse_args(["train", "--loss", "arcface", "--out", "o"]).gpus == 1
    assert parser.parse_args(["toy", "--loss", "arcface", "--dim", "2", "--out", "t.npz"]).dim == [2]


def test_bad_json_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["data", "synth", "--out", "d", "--settings", "{not json"])
    assert "not valid JSON" in capsys.readouterr().err


def test_config_command_writes_json(tmp_path) -> None:
    out = tmp_path / "c.json"
    main(["report", "config", '{"preset": "x"}', "--out", str(out)])
    assert '"preset": "x"' in out.read_text()


def test_bad_input_ends_with_one_clear_line(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing"
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "check", str(missing)])
    assert str(missing) in str(exit_info.value) and "does not exist" in str(exit_info.value)


def test_a_bad_run_spec_ends_with_one_line_naming_its_key(tmp_path) -> None:
    from x2softmax import config as xcfg

    spec = xcfg.run_spec(xcfg.load_config(), "arcface").to_dict()
    spec["train"]["batch_size"] = "many"
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--spec", json.dumps(spec), "--out", str(tmp_path / "out")])
    assert str(exit_info.value) == ("x2softmax train: ValueError: run spec key 'train.batch_size': "
                                    "expected an integer, got 'many'")
    assert not (tmp_path / "out").exists()


def test_a_training_job_from_its_spec_does_not_load_the_config_reader(tmp_path) -> None:
    """The workflow's training jobs pass --spec: the config reader (x2softmax.config, jsonschema, yaml) is start-up
    they do not need (docs/timings.md); --loss still reads the config."""
    from x2softmax import config as xcfg

    spec = xcfg.run_spec(xcfg.load_config(), "arcface").to_dict()
    spec["train"]["batch_size"] = "many"  # refused by RunSpec, after the imports and before any training
    code = ("import sys\nfrom x2softmax.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    print(e)\nprint(sorted(m for m in ('x2softmax.config', 'jsonschema', 'yaml') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, "train", "--spec", json.dumps(spec), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.splitlines()[-2:] == [
        "x2softmax train: ValueError: run spec key 'train.batch_size': expected an integer, got 'many'", "[]"], \
        done.stdout + done.stderr


def test_toy_needs_one_out_per_dim() -> None:
    with pytest.raises(SystemExit, match="2 --dim but 1 --out: give one --out per --dim"):
        main(["toy", "--loss", "arcface", "--dim", "2", "--dim", "3", "--out", "a.npz"])
