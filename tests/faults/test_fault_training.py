"""Training under attack and accident: malicious checkpoints and model files, NaN/Inf steps, kill -9 mid-step
and mid-write. Nothing planted runs, no non-finite state is ever checkpointed, and every rerun recovers bit-exactly."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from x2softmax.evaluate.run import backbone_file
from x2softmax.models import load_backbone
from x2softmax.runspec import RunSpec
from x2softmax.train import trainer as trainer_module
from x2softmax.train.head import ShardedHead
from x2softmax.train.trainer import TrainingDiverged, train

from .conftest import cli_capped, one_line_error, python_capped, run_cli

_spec = importlib.util.spec_from_file_location("train_fixtures", Path(__file__).parents[1] / "train" / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)  # the training tests' tiny face set and spec, without duplicating them

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The training tests' tiny spec on its own face set: 2 epochs of 6 steps, checkpoints every 4."""
    faces = _fixtures.make_faces(tmp_path_factory.mktemp("faces") / "train")
    return {**_fixtures.BASE_SPEC, "data": {**_fixtures.BASE_SPEC["data"], "train_dir": str(faces)}}


@pytest.fixture(scope="module")
def reference(spec: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run's output directory."""
    out = tmp_path_factory.mktemp("reference")
    train(RunSpec.from_dict(spec), out, out / "ckpt")
    return out


def _train_capped(spec: dict[str, Any], out: Path, ckpt: Path) -> str:
    """`x2softmax train` (resuming from what `ckpt` holds) in a capped subprocess; its stderr."""
    code, err = cli_capped(["train", "--spec", json.dumps(spec), "--out", str(out), "--ckpt", str(ckpt)], timeout=300)
    assert code == 0, err
    return err


def _same_outputs(a: Path, b: Path) -> None:
    for name in ("backbone.pt", "head.pt"):
        left, right = torch.load(a / name, weights_only=True), torch.load(b / name, weights_only=True)
        flat_left = left if name == "backbone.pt" else {"weight": left["weight"]}
        flat_right = right if name == "backbone.pt" else {"weight": right["weight"]}
        for key in flat_left:
            torch.testing.assert_close(flat_left[key], flat_right[key], rtol=0, atol=0)


# ------------------------------------------------------------------------------------------ malicious pickles


class _Payload:
    """A pickle that runs a callable with an argument when loaded (what an attacker plants)."""

    def __init__(self, call: Any, arg: Any) -> None:
        self.call, self.arg = call, arg

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.call, (self.arg,)


def _malicious(kind: str, marker: Path) -> bytes:
    """Bytes of a hostile 'checkpoint' that would create `marker` if anything in it ran."""
    command = f"touch {marker}"
    payloads = {
        "os.system": _Payload(os.system, command),
        "builtins.exec": _Payload(exec, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.getoutput": _Payload(subprocess.getoutput, command),
    }
    if kind == "raw pickle (not a torch zip)":
        return pickle.dumps({"resume_key": _Payload(os.system, command)})
    path = marker.with_suffix(".pt")
    torch.save({"resume_key": "x", "backbone": {"fc.weight": payloads[kind]}}, path)
    return path.read_bytes()


MALICIOUS = ["os.system", "builtins.exec", "subprocess.getoutput", "raw pickle (not a torch zip)"]


@pytest.mark.parametrize("kind", MALICIOUS)
def test_malicious_checkpoint_on_resume_is_refused_not_run(spec: dict[str, Any], reference: Path, tmp_path: Path,
                                                           kind: str) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "last.pt").write_bytes(_malicious(kind, marker))
    err = _train_capped(spec, tmp_path / "out", tmp_path / "ckpt")
    assert not marker.exists()
    assert re.search(r"checkpoint .*last\.pt: (refused to load|not a readable torch file).*starting fresh", err), err
    _same_outputs(tmp_path / "out", reference)  # started fresh and finished like an untouched run


@pytest.mark.parametrize("kind", MALICIOUS)
def test_malicious_model_file_for_evaluation_is_refused_in_one_line(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "pwned"
    run_dir = tmp_path / "results" / "train" / "x2softmax"  # e.g. restored by `dvc pull` from someone's remote
    run_dir.mkdir(parents=True)
    (run_dir / "backbone.pt").write_bytes(_malicious(kind, marker))
    code, err = cli_capped(["evaluate", "--model", str(run_dir), "--backbone", "iresnet_tiny", "--data-root",
                            str(tmp_path), "--out", str(tmp_path / "eval")], timeout=120)
    line = one_line_error(err)
    assert code != 0 and not marker.exists()
    assert str(backbone_file(run_dir)) in line and re.search("refused to load|not a readable torch file", line)


def test_every_torch_load_in_the_project_is_weights_only() -> None:
    """Package, bench scripts and notebooks (which load DVC-restored head.pt files) never unpickle code."""
    sources = [*REPO.glob("src/**/*.py"), *REPO.glob("bench/**/*.py"), *REPO.glob("notebooks/*.ipynb")]
    calls = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            text = "".join("".join(cell["source"]) for cell in json.loads(text)["cells"])
        calls += [(path, call) for call in re.findall(r"torch\.load\([^)]*\)", text)]
    assert calls, "no torch.load found: the scan is broken"
    unsafe = [f"{path}: {call}" for path, call in calls if "weights_only=True" not in call]
    assert not unsafe, unsafe


def test_a_checkpoint_of_this_project_loads_with_weights_only(spec: dict[str, Any], reference: Path) -> None:
    state = torch.load(reference / "ckpt" / "last.pt", weights_only=True)
    assert state["global_step"] == 12 and isinstance(state["rng"]["torch"], torch.Tensor)
    model, _ = load_backbone(reference / "backbone.pt")
    assert model is not None


# ---------------------------------------------------------------------------------------------------- NaN / Inf


class _PoisonedHead(ShardedHead):
    """The head, with its weight gradient (or its loss) made non-finite at one step."""

    poison_step, what = 0, "loss"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0
        for param in self.parameters():
            param.register_hook(self._grad)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Any:
        self.calls += 1
        loss, acc = super().forward(embeddings, labels)
        if self.what == "loss" and self.calls == self.poison_step:
            loss = loss * float("nan")
        return loss, acc

    def _grad(self, grad: torch.Tensor) -> torch.Tensor:
        return grad * float("inf") if self.what == "head grad" and self.calls == self.poison_step else grad


NAN_CASES = {
    # what, step, kept checkpoint step (None: none written)
    "NaN loss after a checkpoint": ("loss", 6, 4),
    "NaN loss before any checkpoint": ("loss", 3, None),
    "Inf head gradient at a checkpoint step": ("head grad", 8, 4),
    "Inf head gradient at the first checkpoint step": ("head grad", 4, None),
}


@pytest.mark.parametrize("case", sorted(NAN_CASES))
def test_non_finite_step_is_never_checkpointed_and_a_rerun_recovers(
    spec: dict[str, Any], reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    what, step, kept = NAN_CASES[case]
    monkeypatch.setattr(_PoisonedHead, "what", what)
    monkeypatch.setattr(_PoisonedHead, "poison_step", step)
    monkeypatch.setattr(trainer_module, "ShardedHead", _PoisonedHead)
    ckpt = tmp_path / "ckpt" / "last.pt"
    code, err = run_cli(["train", "--spec", json.dumps(spec), "--out", str(tmp_path / "out"),
                         "--ckpt", str(ckpt.parent)], capsys)
    line = one_line_error(err)
    assert code != 0 and f"at step {step}; training stopped" in line and "TrainingDiverged" in line
    if kept is None:
        assert "no checkpoint of this run was written" in line and not ckpt.exists()
    else:
        assert f"last good checkpoint kept: {ckpt} (step {kept})" in line
        state = torch.load(ckpt, weights_only=True)
        assert state["global_step"] == kept
        assert all(bool(torch.isfinite(t).all()) for t in [*state["backbone"].values(), *state["head"].values()]
                   if t.is_floating_point())
    assert not (tmp_path / "out" / "backbone.pt").exists()
    monkeypatch.setattr(trainer_module, "ShardedHead", ShardedHead)  # the fault is gone: the rerun recovers
    _train_capped(spec, tmp_path / "out", ckpt.parent)
    _same_outputs(tmp_path / "out", reference)


def test_a_checkpoint_with_non_finite_weights_is_not_resumed(spec: dict[str, Any], reference: Path,
                                                              tmp_path: Path) -> None:
    state = torch.load(reference / "ckpt" / "last.pt", weights_only=True)  # e.g. written by an older version
    name = next(iter(state["backbone"]))
    state["backbone"][name] = state["backbone"][name] * float("nan")
    (tmp_path / "ckpt").mkdir()
    torch.save(state, tmp_path / "ckpt" / "last.pt")
    err = _train_capped(spec, tmp_path / "out", tmp_path / "ckpt")
    assert f"non-finite weights (backbone.{name}); starting fresh" in err
    _same_outputs(tmp_path / "out", reference)


def _first(state: dict[str, Any], part: str) -> str:
    return next(name for name, value in state[part].items() if value.dim() > 1)


BAD_CONTENTS: dict[str, tuple[Any, str]] = {
    "backbone tensor of the wrong shape": (
        lambda s: s["backbone"].__setitem__(_first(s, "backbone"), torch.zeros(3, 3)), "the model's is"),
    "head weight expanded to 10^12 elements": (
        lambda s: s["head"].__setitem__("weight", torch.zeros(1).expand(10**6, 10**6)), "the model's is"),
    "head weight of another dtype": (
        lambda s: s["head"].__setitem__("weight", s["head"]["weight"].double()), "the model's is"),
    "optimizer state that is a string": (lambda s: s.__setitem__("optimizer", "adam"), "'optimizer' is a str"),
    "momentum buffer of the wrong shape": (
        lambda s: next(iter(s["optimizer"]["state"].values())).__setitem__("momentum_buffer", torch.zeros(7, 7)),
        "optimizer.state"),
    "global step that is a string": (lambda s: s.__setitem__("global_step", "4"), "'global_step' is '4'"),
    "a backbone key the model lacks": (lambda s: s["backbone"].__setitem__("extra.weight", torch.zeros(1)),
                                       "'backbone' names"),
}


@pytest.mark.parametrize("case", list(BAD_CONTENTS))
def test_a_checkpoint_with_the_right_keys_but_bad_contents_is_not_resumed(
        spec: dict[str, Any], reference: Path, tmp_path: Path, case: str) -> None:
    state = torch.load(reference / "ckpt" / "last.pt", weights_only=True)
    corrupt, expected = BAD_CONTENTS[case]
    corrupt(state)
    (tmp_path / "ckpt").mkdir()
    torch.save(state, tmp_path / "ckpt" / "last.pt")
    err = _train_capped(spec, tmp_path / "out", tmp_path / "ckpt")
    notice = [line for line in err.splitlines() if "starting fresh" in line]
    assert len(notice) == 1 and str(tmp_path / "ckpt" / "last.pt") in notice[0] and expected in notice[0], err
    _same_outputs(tmp_path / "out", reference)


SUMMARY_MODELS: dict[str, tuple[Any, str]] = {
    "embedding_size a string": ({"embedding_size": "128"}, "summary.json: spec.model.embedding_size"),
    "embedding_size of 10^9": ({"embedding_size": 10**9}, "summary.json: spec.model.embedding_size"),
    "embedding_size unlike the weights": ({"embedding_size": 64}, "backbone.pt: fc.weight has"),
    "input_size of 10^6": ({"input_size": 10**6}, "summary.json: spec.model.input_size"),
    "dropout NaN": ({"dropout": float("nan")}, "summary.json: spec.model.dropout"),
    "unknown backbone": ({"backbone": "r9999"}, "summary.json: spec.model.backbone"),
    "model block a list": ([1, 2], "summary.json: spec.model is a list"),
}


@pytest.mark.parametrize("case", list(SUMMARY_MODELS))
def test_a_model_record_with_bad_contents_is_refused_naming_the_file(reference: Path, tmp_path: Path,
                                                                     case: str) -> None:
    change, expected = SUMMARY_MODELS[case]
    summary = json.loads((reference / "summary.json").read_text())
    model = summary["spec"]["model"]
    summary["spec"]["model"] = {**model, **change} if isinstance(change, dict) else change
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "backbone.pt").write_bytes(backbone_file(reference).read_bytes())
    done = python_capped("from pathlib import Path\nfrom x2softmax.models import load_backbone\n"
                         f"try:\n    load_backbone(Path({str(tmp_path / 'backbone.pt')!r}))\n"
                         "except ValueError as err:\n    print(err)", timeout=120)
    file, detail = expected.split(":", 1)
    assert done.returncode == 0 and f"{tmp_path / file}:{detail}" in done.stdout, done.stdout + done.stderr


def test_traceback_is_kept_on_request(spec: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_PoisonedHead, "poison_step", 2)
    monkeypatch.setattr(trainer_module, "ShardedHead", _PoisonedHead)
    monkeypatch.setenv("X2S_TRACEBACK", "1")
    with pytest.raises(TrainingDiverged, match="step 2"):
        run_cli(["train", "--spec", json.dumps(spec), "--out", str(tmp_path / "out")], None)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------- kill -9

_KILLER = r"""
import os, signal, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from x2softmax import io as xio
from x2softmax.runspec import RunSpec
from x2softmax.train.trainer import train
spec, out, where, step = RunSpec.from_json(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
state = {"step": 0}
def kill():
    os.kill(os.getpid(), signal.SIGKILL)
def on_step(s):
    state["step"] = s
    if where == "after step" and s == step:
        kill()
real_replace, real_write = os.replace, Path.write_bytes
def replace(src, dst):
    if where == "before rename" and state["step"] == step - 1 and Path(dst).name in ("last.pt", "backbone.pt"):
        kill()
    return real_replace(src, dst)
def write_bytes(self, data):
    if where == "mid-write" and state["step"] == step - 1 and self.name.startswith(".last.pt."):
        with open(self, "wb") as fh:
            fh.write(data[: len(data) // 3])
            fh.flush()
        kill()
    return real_write(self, data)
xio.os.replace = replace
Path.write_bytes = write_bytes
train(spec, out, out / "ckpt", on_step=on_step)
"""

KILLS = {
    # where, step (1-based) at which the kill comes
    "kill -9 after step 1 (no checkpoint yet)": ("after step", 1),
    "kill -9 after step 5": ("after step", 5),
    "kill -9 mid-write of the step-8 checkpoint": ("mid-write", 8),
    "kill -9 before the rename of the step-8 checkpoint": ("before rename", 8),
    "kill -9 before the rename of backbone.pt": ("before rename", 13),
}


@pytest.mark.parametrize("case", sorted(KILLS))
def test_kill_9_then_rerun_is_bit_exact_and_cleans_up(spec: dict[str, Any], reference: Path, tmp_path: Path,
                                                      case: str) -> None:
    where, step = KILLS[case]
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-c", _KILLER, json.dumps(spec), str(out), where, str(step)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert not (out / "summary.json").exists()
    leftovers = sorted(p.name for p in out.rglob(".*.tmp"))
    assert bool(leftovers) == (where != "after step")  # a killed write leaves its temp file behind ...
    _train_capped(spec, out, out / "ckpt")
    assert not list(out.rglob(".*.tmp"))  # ... which the rerun's next write to that file removes
    _same_outputs(out, reference)


def test_a_torchrun_worker_fails_in_one_line(spec: dict[str, Any], tmp_path: Path) -> None:
    bad = {**spec, "data": {**spec["data"], "train_dir": str(tmp_path / "no data")}}
    (tmp_path / "spec.json").write_text(json.dumps(bad))
    done = subprocess.run([sys.executable, "-m", "x2softmax.train.worker", "--spec-file", str(tmp_path / "spec.json"),
                           "--out", str(tmp_path / "out"), "--ckpt", str(tmp_path / "ckpt")],
                          env={**os.environ, "PYTHONPATH": str(REPO / "src"), "RANK": "1"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (f"x2softmax train (rank 1): FileNotFoundError: {tmp_path / 'no data'}: "
                                   "training data directory not found")


@pytest.mark.parametrize("in_memory", [True, False])
def test_training_on_images_of_another_size_warns_with_counts(spec: dict[str, Any], tmp_path: Path,
                                                              in_memory: bool) -> None:
    resized = {**spec, "model": {**spec["model"], "input_size": 48},
               "data": {**spec["data"], "in_memory": in_memory},
               "train": {**spec["train"], "epochs": 1, "checkpoint_every": 0, "schedule": {"name": "poly"}}}
    err = _train_capped(resized, tmp_path / "out", tmp_path / "ckpt")
    faces = Path(spec["data"]["train_dir"])
    if in_memory:
        assert f"warning: {faces / 'train.rec'}: 48 of 48 images are not 48x48 and were resized" in err
    else:
        assert f"warning: {faces / 'property'}: all 48 images are 32x32; each is resized to the model's 48x48" in err
