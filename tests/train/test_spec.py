"""The run spec: built from the config, written to JSON and read back unchanged; a bad value is refused by name."""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest

from x2softmax import config as xcfg
from x2softmax.runspec import RunSpec, ScheduleSettings


@pytest.fixture(scope="module")
def spec() -> RunSpec:
    """The embedded default's X2-Softmax run."""
    return xcfg.run_spec(xcfg.load_config(), "x2softmax")


def test_json_round_trip_keeps_every_value_and_its_json_type(spec: RunSpec) -> None:
    text = spec.to_json()
    assert text == json.dumps(spec.to_dict(), sort_keys=True)
    assert RunSpec.from_json(text) == spec and RunSpec.from_json(text).to_json() == text
    assert '"warmup_epochs": 0}' in text and '"lr": 0.1,' in text  # an int stays an int, a float a float
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_the_spec_is_frozen_and_read_as_attributes(spec: RunSpec) -> None:
    assert spec.train.schedule.milestones == (1.3333, 1.6667) and spec.model.embedding_size == 128
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.train.lr = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.loss.hparams["s"] = 1.0  # type: ignore[index]
    changed = spec.updated(train={"epochs": 1}, data={"train_dir": "elsewhere"})
    assert (changed.train.epochs, changed.data.train_dir, spec.train.epochs) == (1, "elsewhere", 2)


def test_unused_schedule_keys_take_their_one_default() -> None:
    assert ScheduleSettings.from_dict({"name": "poly"}) == ScheduleSettings("poly", (), 0.1, 0, 1.0)


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["train"].pop("lr"), "run spec key 'train.lr': missing"),
    (lambda d: d["data"].update(num_classes=7), "run spec key 'data.num_classes': unknown key"),
    (lambda d: d["train"].update(lr="fast"), "run spec key 'train.lr': expected a number, got 'fast'"),
    (lambda d: d["train"].update(epochs=True), "run spec key 'train.epochs': expected an integer, got True"),
    (lambda d: d["train"].update(epochs=2.5), "run spec key 'train.epochs': expected an integer, got 2.5"),
    (lambda d: d["train"]["val"].update(sets=["lfw", 3]), "run spec key 'train.val.sets.1': expected a string"),
    (lambda d: d["train"]["schedule"].update(milestones=1),
     "run spec key 'train.schedule.milestones': expected a list"),
    (lambda d: d.update(model=[]), "run spec key 'model': expected an object"),
    (lambda d: d["loss"].update(hparams=None), "run spec key 'loss.hparams': expected an object"),
])
def test_a_bad_value_is_refused_naming_its_key(spec: RunSpec, change, message: str) -> None:
    data = spec.to_dict()
    change(data)
    with pytest.raises(ValueError) as err:
        RunSpec.from_dict(data)
    assert str(err.value).startswith(message)


def test_a_spec_that_is_not_json_says_so() -> None:
    with pytest.raises(ValueError, match="run spec: not valid JSON"):
        RunSpec.from_json("{run")
    with pytest.raises(ValueError, match="run spec: expected an object"):
        RunSpec.from_json("[]")
