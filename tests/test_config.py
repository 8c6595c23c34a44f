"""Config loading, preset merging, schema validation and run resolution."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from x2softmax import config as xcfg


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default() -> dict:
    return xcfg.load_config()


@pytest.mark.parametrize("preset", [None, "smoke", "paper", "mechanism"])
def test_default_and_presets_are_valid(preset: str | None) -> None:
    config = xcfg.load_config(preset)
    assert config["run_losses"]


def test_deep_merge_merges_dicts_and_replaces_lists() -> None:
    merged = xcfg.deep_merge({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}, "e": 2})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (("train", "epochs"), "many", "train.epochs"),
        (("train", "lr"), -0.1, "train.lr"),
        (("model", "backbone"), "resnet9000", "model.backbone"),
        (("evaluate", "protocols"), ["5fold"], "evaluate.protocols.0"),
        (("train", "schedule", "name"), "cosine", "train.schedule.name"),
    ],
)
def test_invalid_values_name_the_key(default: dict, path: tuple, value: object, key: str) -> None:
    config = copy.deepcopy(default)
    node = config
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(xcfg.ConfigError, match=f"'{key}'"):
        xcfg.validate_config(config)


def test_unknown_key_is_rejected(default: dict) -> None:
    config = copy.deepcopy(default)
    config["train"]["epochs_typo"] = 3
    with pytest.raises(xcfg.ConfigError, match="'train'.*epochs_typo"):
        xcfg.validate_config(config)


def test_run_of_unknown_loss_is_rejected(default: dict) -> None:
    config = copy.deepcopy(default)
    config["run_losses"] = ["nosuchloss"]
    with pytest.raises(xcfg.ConfigError, match="run_losses.*nosuchloss"):
        xcfg.validate_config(config)


def test_ablation_overrides_only_its_hyperparameters(default: dict) -> None:
    base = xcfg.loss_spec(default, "x2softmax")
    ablation = xcfg.loss_spec(default, "x2_a-0.5")
    assert ablation["name"] == "x2softmax"
    assert ablation["hparams"]["a"] == -0.5
    assert {k: v for k, v in ablation["hparams"].items() if k != "a"} == {
        k: v for k, v in base["hparams"].items() if k != "a"}


def test_run_spec_follows_the_config(default: dict) -> None:
    spec = xcfg.run_spec(default, "arcface")
    assert spec.run == "arcface"
    assert spec.loss.name == "arcface" and spec.loss.hparams["m"] == 0.5
    assert spec.model.to_dict() == default["model"]
    assert spec.train.epochs == default["train"]["epochs"]
    assert spec.data.train_dir.endswith("train")


def test_runs_lists_losses_then_ablations_then_extra_seeds(default: dict) -> None:
    base = default["run_losses"] + default["run_ablations"]
    extra = [f"{run}.seed{seed}" for run in base if run in default["seeds"]["runs"] for seed in default["seeds"]["extra"]]
    assert xcfg.runs(default) == base + extra
    # issue 19, point 6: three seeds for X2 and the four baselines whose ranking the pages compare
    assert len(default["seeds"]["extra"]) >= 2
    assert {"x2softmax", "arcface", "cosface", "softmax", "normface"} <= set(default["seeds"]["runs"])


def test_paper_preset_keeps_the_authors_scale_and_the_default_names_its_deviation(default: dict) -> None:
    from x2softmax.losses import default_hparams
    from x2softmax.report.health import paper_deviations

    paper = xcfg.load_config("paper")
    scaled = [name for name in paper["run_losses"] if "s" in default_hparams(name)]
    assert scaled and all(xcfg.loss_hparams(paper, name)["s"] == 64.0 for name in scaled)
    assert xcfg.loss_hparams(paper, "x2softmax") == {**default_hparams("x2softmax"), "s": 64.0}
    specs = {run: xcfg.loss_spec(default, run) for run in default["run_losses"] + default["run_ablations"]}
    deviations = paper_deviations(specs)
    # the embedded default changes s (to the scale its 300 classes need) and nothing else
    assert set(deviations["hyperparameter"]) == {"s"} and set(deviations["value"]) == {6.0}
    assert set(deviations["run"]) == {run for run, spec in specs.items() if "s" in default_hparams(spec["name"])}
    assert paper_deviations({run: xcfg.loss_spec(paper, run) for run in specs}).empty


def test_seeded_runs_share_the_base_spec_but_their_seed(default: dict) -> None:
    base, seeded = xcfg.run_spec(default, "x2softmax"), xcfg.run_spec(default, "x2softmax.seed2049")
    assert base.train.seed == default["train"]["seed"] and seeded.train.seed == 2049
    assert seeded.run == "x2softmax.seed2049"
    assert dataclasses.replace(seeded, run="x2softmax", train=dataclasses.replace(
        seeded.train, seed=default["train"]["seed"])) == base
    assert xcfg.base_run("x2softmax.seed2049") == "x2softmax" and xcfg.base_run("x2_a-0.5") == "x2_a-0.5"
    assert xcfg.seed_of(default, "x2softmax") == 2048 and xcfg.seed_of(default, "cosface.seed2050") == 2050
    assert xcfg.seed_group(default, "arcface.seed2050") == ["arcface", "arcface.seed2049", "arcface.seed2050"]
    assert xcfg.seed_group(default, "sphereface") == ["sphereface"]


def test_seeds_of_runs_not_trained_are_ignored(default: dict) -> None:
    config = {**copy.deepcopy(default), "run_losses": ["arcface"], "run_ablations": []}
    xcfg.validate_config(config)  # seeds.runs still names x2softmax and cosface: known, not trained here
    assert xcfg.runs(config) == ["arcface", "arcface.seed2049", "arcface.seed2050"]


@pytest.mark.parametrize(("seeds", "message"), [
    ({"extra": [2049], "runs": ["magfase"]}, "'seeds.runs': 'magfase' is neither a loss"),
    ({"extra": [2048], "runs": ["x2softmax"]}, "'seeds.extra': 2048 is train.seed"),
    ({"extra": [1, 1], "runs": []}, "'seeds.extra'"),
])
def test_bad_seeds_name_the_key(default: dict, seeds: dict, message: str) -> None:
    config = {**copy.deepcopy(default), "seeds": seeds}
    with pytest.raises(xcfg.ConfigError, match=message):
        xcfg.validate_config(config)


def test_bad_loss_hyperparameter_names_the_key(default: dict) -> None:
    config = copy.deepcopy(default)
    config["losses"]["x2softmax"]["a"] = 0.5  # the margin turns negative: rejected by the loss library
    with pytest.raises(xcfg.ConfigError, match="'losses.x2softmax'"):
        xcfg.validate_config(config)


def test_unknown_loss_hyperparameter_in_ablation_names_the_key(default: dict) -> None:
    config = copy.deepcopy(default)
    config["ablations"]["x2_a-0.5"]["hparams"] = {"alpha": 1.0}
    with pytest.raises(xcfg.ConfigError, match="'ablations.x2_a-0.5.hparams'.*alpha"):
        xcfg.validate_config(config)


def _counting_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the losses the hyperparameter check builds from now on (the registry's build_loss, wrapped)."""
    from x2softmax.losses import registry

    built: list[str] = []
    build = registry.build_loss
    monkeypatch.setattr(registry, "build_loss", lambda name, **hparams: (built.append(name), build(name, **hparams))[1])
    return built


def test_the_hyperparameter_check_keeps_a_record_of_its_passes(default: dict, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass writes its digest; a check that finds it builds nothing; a changed hyperparameter or loss file builds
    again; a bad value is refused whatever the record holds, and its failure writes nothing."""
    from x2softmax.losses import sources

    record, built = tmp_path / ".snakemake/x2softmax/hyperparameters.json", _counting_builds(monkeypatch)
    xcfg.check_hyperparameters(default, record)
    assert sorted(built) == sorted([*default["losses"], *(default["ablations"][r]["loss"]
                                                          for r in default["run_ablations"])])
    passed = json.loads(record.read_text())["passed"]
    assert len(passed) == 1
    built.clear()
    xcfg.check_hyperparameters(default, record)
    assert built == [] and json.loads(record.read_text())["passed"] == passed
    changed = copy.deepcopy(default)
    changed["losses"]["x2softmax"]["s"] = 32.0
    xcfg.check_hyperparameters(changed, record)
    assert "x2softmax" in built and len(json.loads(record.read_text())["passed"]) == 2
    package = tmp_path / "losses"
    shutil.copytree(sources.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "magface.py").write_text((package / "magface.py").read_text() + "\n# an edit\n")
    monkeypatch.setattr(sources, "PACKAGE", package)
    built.clear()
    xcfg.check_hyperparameters(default, record)
    assert "x2softmax" in built and len(json.loads(record.read_text())["passed"]) == 3
    monkeypatch.undo()
    bad = copy.deepcopy(default)
    bad["losses"]["x2softmax"]["a"] = 0.5
    before = record.read_bytes()
    with pytest.raises(xcfg.ConfigError, match="'losses.x2softmax'"):
        xcfg.check_hyperparameters(bad, record)
    assert record.read_bytes() == before
    record.write_text("not json")  # an unreadable record is no record: the check builds and rewrites it
    xcfg.check_hyperparameters(default, record)
    assert len(json.loads(record.read_text())["passed"]) == 1


def test_a_check_its_record_holds_imports_no_torch(tmp_path: Path) -> None:
    """`x2softmax config-check` in a project: the first check builds the losses (torch), the second imports none."""
    (tmp_path / "Snakefile").write_text("")
    probe = ("import sys; from x2softmax.cli import main; code = 0\ntry:\n    main(['config-check'])\n"
             "except SystemExit as e:\n    code = e.code\nprint('torch' in sys.modules, code)")
    runs = [subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
            for _ in range(2)]
    assert [r.stdout.split()[-2:] for r in runs] == [["True", "0"], ["False", "0"]], [r.stderr for r in runs]
    assert (tmp_path / xcfg.HPARAM_RECORD).is_file()


def test_the_schema_enumerates_the_vocabulary():
    """The config schema's names of sets, protocols and suites are x2softmax.vocabulary's, in its order; those of
    benchmarks, backbones and required datasets are filled in from the registries when a config is validated."""
    from x2softmax.config import SCHEMA, read_yaml, registry_schema
    from x2softmax.data.registry import load_registry
    from x2softmax.models import BACKBONES
    from x2softmax.vocabulary import BENCHMARKS, IJB_SUITES, PROTOCOLS, VERIFICATION

    filled = registry_schema(read_yaml(SCHEMA))["properties"]
    evaluate = filled["evaluate"]["properties"]
    assert tuple(evaluate["benchmarks"]["items"]["enum"]) == BENCHMARKS
    assert filled["model"]["properties"]["backbone"]["enum"] == list(BACKBONES)
    assert filled["data"]["properties"]["required"]["items"]["enum"] == list(load_registry())
    registry = load_registry()
    assert all(registry[entry.dataset]["path"] == f"val/{name}.bin" for name, entry in VERIFICATION.items())
    assert tuple(evaluate["protocols"]["items"]["enum"]) == PROTOCOLS
    assert tuple(evaluate["ijb"]["items"]["enum"]) == IJB_SUITES


def test_the_schema_enumerates_the_cpu_kernel_settings():
    """cpu_kernels accepts exactly the settings x2softmax.cpukernels defines; the default pins, the paper does not."""
    from x2softmax.config import SCHEMA, read_yaml
    from x2softmax.cpukernels import CPU_KERNELS

    assert tuple(read_yaml(SCHEMA)["properties"]["cpu_kernels"]["enum"]) == CPU_KERNELS
    assert xcfg.load_config()["cpu_kernels"] == "avx2"
    assert xcfg.load_config(preset="paper")["cpu_kernels"] == "native"


def test_the_shipped_defaults_are_the_files_one_edits() -> None:
    """In a checkout the package data is config/ and workflow/schemas/ themselves: one copy of each file."""
    assert xcfg.DEFAULT_CONFIG == REPO / "config" / "config.yaml"
    assert xcfg.PRESETS_DIR == REPO / "config" / "presets"
    assert xcfg.SCHEMA == REPO / "workflow" / "schemas" / "config.schema.yaml"
    assert xcfg.preset_path("paper") == REPO / "config" / "presets" / "paper.yaml"


def test_an_installed_package_loads_its_defaults_outside_the_checkout(tmp_path: Path) -> None:
    """A non-editable install of the sources, imported from a folder with no checkout above it, loads the embedded
    default and the presets (shipped as package data) and validates them against the shipped schema."""
    source = tmp_path / "source"
    for name in ("src", "config", "workflow/schemas"):
        shutil.copytree(REPO / name, source / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), str(source)], check=True, capture_output=True, text=True, timeout=300)
    shutil.rmtree(source)  # nothing of the checkout's copy is left to find
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = ("import json; from x2softmax import config as c; "
             "print(json.dumps([str(c.DEFAULT_CONFIG), c.load_config(), c.load_config('smoke'), c.load_config('paper')]))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env={"PYTHONPATH": str(site), "PATH": ""},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    path, default, smoke, paper = json.loads(done.stdout)
    assert Path(path) == site / "x2softmax" / "defaults" / "config.yaml"
    assert not Path(path).is_symlink()
    assert [default, smoke, paper] == [json.loads(json.dumps(xcfg.load_config(p))) for p in (None, "smoke", "paper")]
