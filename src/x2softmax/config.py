"""Workflow configuration: load the embedded default and presets, validate, resolve one training run."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.metadata
import json
import math
import os
import re
import stat
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from x2softmax.io import atomic_write_json
from x2softmax.runspec import RunSpec

# The embedded default, the presets and the schema ship as package data (x2softmax/defaults: in a checkout, links to
# config/ and workflow/schemas/, resolved so that messages name the files one edits); an installed package is
# unpacked on disk, so they are plain paths wherever the package is imported from.
_DEFAULTS = Path(str(resources.files("x2softmax").joinpath("defaults")))
DEFAULT_CONFIG = (_DEFAULTS / "config.yaml").resolve()
PRESETS_DIR = (_DEFAULTS / "presets").resolve()
# Where a project keeps the record of its passed hyperparameter checks (check_hyperparameters), relative to the project
# directory: in Snakemake's state folder, which `make clean` removes.
HPARAM_RECORD = Path(".snakemake/x2softmax/hyperparameters.json")
HPARAM_RECORD_KEEP = 16  # digests kept: the presets a project alternates between each keep theirs
SCHEMA = (_DEFAULTS / "config.schema.yaml").resolve()
SEED_SUFFIX = re.compile(r"^(?P<base>.+)\.seed(?P<seed>-?[0-9]+)$")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key."""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `override` over `base` recursively (dicts merge, everything else is replaced), as Snakemake does."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


MAX_YAML_BYTES = 1 << 20  # a configuration file is a few KB; X2S_MAX_YAML_BYTES raises it
MAX_YAML_ALIASES = 100  # YAML aliases (*name) one file may use: an alias bomb expands exponentially
MAX_YAML_NODES = 100_000  # values of one file with every alias expanded (the embedded default has ~1,000)


class _BoundedLoader(yaml.SafeLoader):
    """safe_load that counts aliases and refuses more than MAX_YAML_ALIASES (an alias bomb)."""

    aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} aliases (an alias bomb?)")
        return super().compose_node(parent, index)


def _yaml_text(path: Path) -> str:
    """The text of a regular, bounded, UTF-8 file (a FIFO or device would block or never end)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"config file {path} is not a regular file (a FIFO, device or folder)")
    limit = int(os.environ.get("X2S_MAX_YAML_BYTES", MAX_YAML_BYTES))
    if info.st_size > limit:
        raise ConfigError(f"config file {path} has {info.st_size} bytes, more than {limit} "
                          "(X2S_MAX_YAML_BYTES raises the limit)")
    with open(path, "rb") as fh:
        raw = fh.read(limit + 1)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {err.start}: {raw[err.start]:#04x}); "
                          "save it as UTF-8") from None


def _expanded_size(data: Any, limit: int) -> int:
    """How many values `data` holds with shared (aliased) parts counted each time; stops once past `limit`."""
    count, stack = 0, [data]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a clear error naming the file when it is not one (bounded size and aliases)."""
    path = Path(path)
    text = _yaml_text(path)
    try:
        data = yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} nests too deeply") from None
    if _expanded_size(data, MAX_YAML_NODES) > MAX_YAML_NODES:
        raise ConfigError(f"config file {path} expands to more than {MAX_YAML_NODES} values through its aliases "
                          "(an alias bomb?)")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, not {type(data).__name__}")
    return data


def preset_path(preset: str) -> Path:
    """Path of a preset file by name (`smoke`, `paper`) or as given if it is a path."""
    candidate = Path(preset)
    if candidate.suffix in {".yaml", ".yml"}:
        return candidate
    return PRESETS_DIR / f"{preset}.yaml"


def load_config(preset: str | None = None, base: str | Path = DEFAULT_CONFIG,
                record: Path | None = None) -> dict[str, Any]:
    """The embedded default with an optional preset merged over it, validated (`record`: check_hyperparameters')."""
    config = read_yaml(base)
    sources = [str(base)]
    if preset:
        sources.append(str(preset_path(preset)))
        config = deep_merge(config, read_yaml(preset_path(preset)))
    try:
        validate_config(config, record=record)
    except ConfigError as err:  # name the files the bad value came from (the preset merged over the default)
        raise ConfigError(f"{' + '.join(sources)}: {err}") from None
    return config


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<top level>"


def validate_config(config: dict[str, Any], schema_path: str | Path = SCHEMA,
                    record: Path | None = None) -> dict[str, Any]:
    """Validate `config` against the JSON Schema (filling defaults), check cross-references and hyperparameters
    (`record`: check_hyperparameters'); raise ConfigError."""
    _check_finite(config)
    schema = registry_schema(read_yaml(schema_path))
    validator_cls = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_cls(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"config key '{_key_path(e)}': {e.message}" for e in errors]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    _check_references(config)
    check_hyperparameters(config, record)
    return config


def registry_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with the names it leaves to the registries filled in as enums: model.backbone (x2softmax.models),
    data.required (the dataset registry) and evaluate.benchmarks (x2softmax.vocabulary.VERIFICATION)."""
    from x2softmax.data.registry import load_registry
    from x2softmax.models import BACKBONES
    from x2softmax.vocabulary import BENCHMARKS

    schema = copy.deepcopy(schema)
    props = schema["properties"]
    props["model"]["properties"]["backbone"] = {"enum": list(BACKBONES)}
    props["data"]["properties"]["required"]["items"] = {"enum": list(load_registry())}
    props["evaluate"]["properties"]["benchmarks"]["items"] = {"enum": list(BENCHMARKS)}
    return schema


def _check_finite(value: Any, key: str = "") -> None:
    """No number anywhere in the config may be NaN or infinite (JSON Schema's bounds let NaN through)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{key or '<top level>'}': {value} is not a finite number")
    if isinstance(value, Mapping):
        for name, item in value.items():
            _check_finite(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_finite(item, f"{key}.{index}")


def _check_references(config: dict[str, Any]) -> None:
    losses = config["losses"]
    for key, names in (("run_losses", config["run_losses"]), ("toy.losses", config["toy"]["losses"])):
        for name in names:
            if name not in losses:
                raise ConfigError(f"config key '{key}': loss '{name}' has no entry under 'losses'")
    for name in config["run_ablations"]:
        if name not in config["ablations"]:
            raise ConfigError(f"config key 'run_ablations': ablation '{name}' has no entry under 'ablations'")
        loss = config["ablations"][name]["loss"]
        if loss not in losses:
            raise ConfigError(f"config key 'ablations.{name}.loss': loss '{loss}' has no entry under 'losses'")
    clash = set(config["run_losses"]) & set(config["run_ablations"])
    if clash:
        raise ConfigError(f"config key 'run_ablations': names {sorted(clash)} are also loss runs")
    seeds = config.get("seeds", {})
    base = set(config["run_losses"]) | set(config["run_ablations"])
    for run in sorted(base):
        if SEED_SUFFIX.match(run):
            raise ConfigError(f"run name '{run}' ends in '.seedN', which names the extra-seed runs (seeds.extra)")
    for run in seeds.get("runs", []):  # a known loss or ablation not trained by this config gets no seeds
        if run not in config["losses"] and run not in config["ablations"]:
            raise ConfigError(f"config key 'seeds.runs': '{run}' is neither a loss under 'losses' nor an ablation")
    if config["train"]["seed"] in seeds.get("extra", []):
        raise ConfigError(f"config key 'seeds.extra': {config['train']['seed']} is train.seed (the base seed) already")
    _check_schedule(config)


def _check_schedule(config: dict[str, Any]) -> None:
    """Milestones must fall inside training: one beyond the last epoch would never apply."""
    train = config["train"]
    late = [m for m in train["schedule"].get("milestones", []) if m > train["epochs"]]
    if train["schedule"]["name"] == "multistep" and late:
        raise ConfigError(f"config key 'train.schedule.milestones': {late} beyond the last epoch "
                          f"(train.epochs is {train['epochs']}); such a milestone would never apply")


def check_hyperparameters(config: Mapping[str, Any], record: Path | None = None) -> None:
    """Build every configured loss and ablation once, so a bad hyperparameter fails before any job runs. `record`
    (HPARAM_RECORD in a project) keeps the digests of the checks passed there: a check whose digest it holds builds
    nothing (imports no torch); a pass adds its digest. The digest covers all the check depends on: every set of
    hyperparameters built, the versions of torch and numpy, and the bytes of every file of the loss package."""
    specs: dict[str, tuple[str, dict[str, Any]]] = {}
    builds = [(f"losses.{name}", name, lambda n=name: loss_hparams(config, n)) for name in config["losses"]]
    builds += [(f"ablations.{run}.hparams", config["ablations"][run]["loss"],
                lambda r=run: loss_spec(config, r)["hparams"]) for run in config["run_ablations"]]
    for key, name, hparams in builds:
        try:
            specs[key] = (name, hparams())
        except ValueError as err:
            raise ConfigError(f"config key '{key}': {err}") from None
    digest = _hyperparameter_digest(specs)
    passed = _passed_checks(record) if record is not None else []
    if digest in passed:
        return
    from x2softmax.losses import build_loss

    for key, (name, hparams) in specs.items():
        try:
            build_loss(name, **hparams)
        except ValueError as err:
            raise ConfigError(f"config key '{key}': {err}") from None
    if record is not None:
        with contextlib.suppress(OSError):  # a record not written only means the next check builds again
            record.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(record, {"passed": [*passed, digest][-HPARAM_RECORD_KEEP:]})


def _hyperparameter_digest(specs: Mapping[str, tuple[str, dict[str, Any]]]) -> str:
    """sha256 over the canonical JSON of the loss builds, the versions of torch and numpy the losses check with, and
    the bytes of every file of the loss package."""
    from x2softmax.losses.sources import PACKAGE

    versions = {name: importlib.metadata.version(name) for name in ("torch", "numpy")}
    digest = hashlib.sha256(json.dumps([specs, versions], sort_keys=True, separators=(",", ":"),
                                       default=lambda v: f"{type(v).__qualname__}:{v!r}").encode())
    for path in sorted(PACKAGE.glob("*.py")):
        digest.update(f"\0{path.name}\0".encode() + path.read_bytes())
    return digest.hexdigest()


def _passed_checks(record: Path) -> list[str]:
    """The digests `record` holds; none where it is missing or unreadable (the check then runs and rewrites it)."""
    try:
        passed = json.loads(record.read_text(encoding="utf-8"))["passed"]
    except (OSError, ValueError, TypeError, KeyError):
        return []
    return [d for d in passed if isinstance(d, str)] if isinstance(passed, list) else []


def base_run(run: str) -> str:
    """The run a seeded run repeats ("x2softmax.seed2049" -> "x2softmax"); a base-seed run is its own base."""
    match = SEED_SUFFIX.match(run)
    return match.group("base") if match else run


def seeded_run(run: str, seed: int, config: Mapping[str, Any]) -> str:
    """The name of `run` trained with `seed`: the run itself for the base seed (train.seed), else "run.seedN"."""
    return run if seed == config["train"]["seed"] else f"{run}.seed{seed}"


def run_seeds(config: Mapping[str, Any], run: str) -> list[int]:
    """The seeds a base run is trained with: train.seed, then seeds.extra if the run is listed in seeds.runs."""
    seeds = config.get("seeds", {})
    extra = list(seeds.get("extra", [])) if run in seeds.get("runs", []) else []
    return [config["train"]["seed"], *extra]


def seed_of(config: Mapping[str, Any], run: str) -> int:
    """The training seed of a run name (train.seed for a base-seed run)."""
    match = SEED_SUFFIX.match(run)
    return int(match.group("seed")) if match else int(config["train"]["seed"])


def seed_group(config: Mapping[str, Any], run: str) -> list[str]:
    """Every run name training the same loss/ablation as `run` with another seed (base-seed run first)."""
    base = base_run(run)
    return [seeded_run(base, seed, config) for seed in run_seeds(config, base)]


def runs(config: Mapping[str, Any]) -> list[str]:
    """Every training run of the config: the loss runs, the ablation runs, then their extra-seed runs (for the
    trained runs listed in seeds.runs)."""
    base = list(config["run_losses"]) + list(config["run_ablations"])
    return base + [name for run in base for name in seed_group(config, run)[1:]]


def loss_hparams(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Full hyperparameters of loss `name`: the library's defaults with config['losses'][name] over them."""
    from x2softmax.losses import default_hparams

    return deep_merge(default_hparams(name), config["losses"].get(name, {}))


def loss_spec(config: Mapping[str, Any], run: str) -> dict[str, Any]:
    """The loss of a run: registry name and its full hyperparameters (library defaults < config < ablation)."""
    run = base_run(run)
    if run in config["run_losses"]:
        name, overrides = run, {}
    elif run in config["ablations"]:
        name, overrides = config["ablations"][run]["loss"], config["ablations"][run].get("hparams", {})
    else:
        raise ConfigError(f"run '{run}' is neither in 'run_losses' nor in 'ablations'")
    return {"name": name, "hparams": deep_merge(loss_hparams(config, name), overrides)}


def run_spec(config: Mapping[str, Any], run: str) -> RunSpec:
    """Resolve one training run into the spec the trainer takes (docs/architecture.md)."""
    train = config["train"]
    root = Path(config["data"]["root"])
    return RunSpec.from_dict({
        "run": run,
        "loss": loss_spec(config, run),
        "model": dict(config["model"]),
        "data": {"train_dir": str(root / "train"), "in_memory": train["in_memory"], "workers": train["workers"]},
        "train": {
            **{k: train[k] for k in (
                "batch_size", "epochs", "lr", "momentum", "weight_decay", "grad_clip", "amp", "scaler_growth_interval",
                "deterministic", "checkpoint_every", "log_every", "threads", "partial_fc")},
            "seed": seed_of(config, run),
            "schedule": dict(train["schedule"]),
            "val": {"every": train["val_every"], "data_dir": str(root / "val"),
                    "sets": list(config["evaluate"]["benchmarks"]) if train["val_every"] else []},
        },
    })


def losses_for_analysis(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Display name -> loss spec for every configured loss, for the margin analysis."""
    return {n: {"name": n, "hparams": loss_hparams(config, n)} for n in config["losses"]}
