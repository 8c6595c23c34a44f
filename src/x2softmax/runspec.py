"""A training run's settings as frozen dataclasses: built once from the validated config (`config.run_spec`), written
to JSON for the rule and read back by the CLI and the torchrun worker (`RunSpec.from_json`)."""

from __future__ import annotations

import copy
import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

S = TypeVar("S", bound="Settings")


class Settings:
    """A section of the run spec: built from a plain dict (checking every key and type), turned back into one."""

    @classmethod
    def from_dict(cls: type[S], data: Any, key: str = "") -> S:
        """The section from `data`; ValueError naming the dotted key of a missing, unknown or mistyped value."""
        where = f"run spec key '{key}'" if key else "run spec"
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object, got {data!r}")
        fields = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ValueError(f"run spec key '{_join(key, unknown[0])}': unknown key")
        hints = typing.get_type_hints(cls)
        values = {}
        for name, field in fields.items():
            if name in data:
                values[name] = _value(hints[name], data[name], _join(key, name))
            elif field.default is dataclasses.MISSING:
                raise ValueError(f"run spec key '{_join(key, name)}': missing")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The section as plain JSON-ready data (lists for tuples, dicts for mappings)."""
        fields = dataclasses.fields(self)
        return {field.name: _plain(getattr(self, field.name)) for field in fields}

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        """Pickled as its plain data (a read-only mapping does not pickle): torch.multiprocessing passes it so."""
        return type(self).from_dict, (self.to_dict(),)


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _value(hint: Any, value: Any, key: str) -> Any:
    """`value` checked against the field type `hint`; numbers keep their JSON type (an int stays an int)."""
    if isinstance(hint, type) and issubclass(hint, Settings):
        return hint.from_dict(value, key)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ValueError(f"run spec key '{key}': expected a list, got {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(_value(item, v, f"{key}.{i}") for i, v in enumerate(value))
    if origin is Mapping:
        if not isinstance(value, Mapping):
            raise ValueError(f"run spec key '{key}': expected an object, got {value!r}")
        return types.MappingProxyType(copy.deepcopy(dict(value)))
    allowed = {float: (int, float), int: (int,), bool: (bool,), str: (str,)}[hint]
    if not isinstance(value, allowed) or (hint is not bool and isinstance(value, bool)):
        kind = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}[hint]
        raise ValueError(f"run spec key '{key}': expected {kind}, got {value!r}")
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Settings):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return copy.deepcopy(dict(value))
    return value


@dataclasses.dataclass(frozen=True)
class LossSettings(Settings):
    """The margin loss: registry name and its full hyperparameters (library defaults < config < ablation)."""

    name: str
    hparams: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class ModelSettings(Settings):
    """The backbone: architecture, embedding size, input size in pixels, dropout before the embedding."""

    backbone: str
    embedding_size: int
    input_size: int
    dropout: float


@dataclasses.dataclass(frozen=True)
class DataSettings(Settings):
    """The training set: its RecordIO folder, whether it is decoded into memory, loader workers when streamed."""

    train_dir: str
    in_memory: bool
    workers: int


@dataclasses.dataclass(frozen=True)
class ScheduleSettings(Settings):
    """The per-iteration lr schedule in epochs; the config may leave out the keys its schedule does not use."""

    name: str
    milestones: tuple[float, ...] = ()
    gamma: float = 0.1
    warmup_epochs: float = 0
    power: float = 1.0


@dataclasses.dataclass(frozen=True)
class ValSettings(Settings):
    """Validation during training: every `every` steps (0: never) on the .bin sets `sets` in `data_dir`."""

    every: int
    data_dir: str
    sets: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class TrainSettings(Settings):
    """The optimisation: batch, epochs, SGD, schedule, precision, seed, checkpoints, logging, threads, partial FC."""

    batch_size: int
    epochs: int
    lr: float
    momentum: float
    weight_decay: float
    grad_clip: float
    amp: str
    scaler_growth_interval: int
    seed: int
    deterministic: bool
    checkpoint_every: int
    log_every: int
    threads: int
    partial_fc: float
    schedule: ScheduleSettings
    val: ValSettings


@dataclasses.dataclass(frozen=True)
class RunSpec(Settings):
    """Everything one training run depends on (docs/architecture.md, "Training run spec")."""

    run: str
    loss: LossSettings
    model: ModelSettings
    data: DataSettings
    train: TrainSettings

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        """The spec of a JSON text (as `to_json` writes it); ValueError naming the bad key or the JSON error."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"run spec: not valid JSON ({err})") from None
        return cls.from_dict(data)

    def to_json(self) -> str:
        """The spec as one line of JSON with sorted keys: the rule's `--spec` parameter."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def updated(self, **sections: Mapping[str, Any]) -> RunSpec:
        """A copy with some values of its sections replaced: `spec.updated(train={"epochs": 1})`."""
        data = self.to_dict()
        for section, values in sections.items():
            data[section] = {**data[section], **{k: _plain(v) for k, v in values.items()}}
        return RunSpec.from_dict(data)
