"""Which embedded-default settings train every loss out of saturation, and at what CPU cost (issue 19, point 2).

Each setting overrides the embedded default (config/config.yaml): the scale s of every loss that has one, the
epochs, the lr milestones (as fractions of the epochs), the input size. Every selected run (loss or ablation) is
trained with it through the package, on the embedded default's synthetic training set (synthesized once into
--data), one thread, in this process. Per setting and run it prints the final logged training loss, the saturation
diagnostic of the last logged window (median target probability, share of samples under 1e-6), the CPU seconds of
the training (data loading included) and whether the run ends saturated (x2softmax.train.saturation.is_saturated);
then, per setting, the total CPU seconds, whether every run left saturation, and any runs with byte-identical
backbones.

Usage: nice python bench/saturation_sweep.py [--settings config s8_e4 ...] [--runs x2softmax x2_h-0.2 ...]
       [--data /tmp/x2softmax-sweep-data]
Defaults: the embedded default as configured, every loss and ablation run of it (17 runs, about 150 CPU-s).
CPU seconds are process CPU time (steadier than wall time on a shared machine, but still inflated by contention).
The measurements behind the default's s = 6 and 2 epochs are tabled in docs/losses.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from x2softmax import config as xcfg
from x2softmax.data import synthetic
from x2softmax.data.recordio import write_face_recordio
from x2softmax.io import file_sha256
from x2softmax.losses import default_hparams
from x2softmax.train.saturation import BELOW_KEY, MEDIAN_KEY, is_saturated
from x2softmax.train.trainer import train

# name -> (s for every loss with a scale or None to keep the config's, epochs, milestones as fractions of epochs,
# input size)
SETTINGS: dict[str, tuple[float | None, int, tuple[float, ...], int]] = {
    "config": (None, 0, (), 0),  # the embedded default as configured (epochs 0: keep)
    "s64_e3": (64.0, 3, (2 / 3, 2.5 / 3), 24),  # the default before issue 19
    "s8_e2": (8.0, 2, (2 / 3, 5 / 6), 24),
    "s16_e2": (16.0, 2, (2 / 3, 5 / 6), 24),
    "s8_e3": (8.0, 3, (2 / 3, 5 / 6), 24),
    "s8_e4": (8.0, 4, (2 / 3, 5 / 6), 24),
    "s6_e3": (6.0, 3, (2 / 3, 5 / 6), 24),
    "s8_e3_late": (8.0, 3, (5 / 6, 11 / 12), 24),
    "s6_e2": (6.0, 2, (2 / 3, 5 / 6), 24),
}


def configured(setting: str) -> dict[str, Any]:
    """The embedded default with a setting's overrides."""
    config = xcfg.load_config()
    scale, epochs, milestones, input_size = SETTINGS[setting]
    if scale is not None:
        for name in config["losses"]:
            if "s" in default_hparams(name):
                config["losses"][name] = {**config["losses"][name], "s": scale}
    if epochs:
        config["train"]["epochs"] = epochs
        config["train"]["schedule"]["milestones"] = [round(f * epochs, 4) for f in milestones]
    if input_size:
        config["model"]["input_size"] = input_size
    return config


def training_set(root: Path) -> Path:
    """The embedded default's synthetic training set (train/ only), synthesized into root unless already there."""
    train_dir = root / "train"
    if (train_dir / "train.idx").is_file():
        return train_dir
    cfg = synthetic.resolve_config(xcfg.load_config()["data"]["synthetic"])
    latents, _ = synthetic.population(cfg, "train")
    t = cfg["train"]
    sizes = synthetic.class_sizes(t["identities"], t["images_min"], t["images_max"], t["size_exponent"], cfg["seed"])
    write_face_recordio(train_dir, synthetic.train_samples(cfg, latents, sizes), t["identities"], image_size=112)
    return train_dir


def run_one(config: dict[str, Any], run: str, train_dir: Path, tmp: Path) -> dict[str, Any]:
    """Train one run of a config; its final loss, diagnostic, CPU seconds and backbone sha256."""
    spec = xcfg.run_spec(config, run).updated(data={"train_dir": str(train_dir)}, train={"checkpoint_every": 0})
    out = tmp / run
    start = time.process_time()
    summary = train(spec, out, tmp / f"{run}.ckpt")
    cpu = time.process_time() - start
    return {
        "loss": summary["final_loss"], "median": summary[f"final_{MEDIAN_KEY}"], "below": summary[f"final_{BELOW_KEY}"],
        "cpu_s": cpu, "sha": file_sha256(out / "backbone.pt"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = xcfg.load_config()
    parser.add_argument("--settings", nargs="+", default=["config"], choices=sorted(SETTINGS))
    parser.add_argument("--runs", nargs="+", default=default["run_losses"] + default["run_ablations"])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "x2softmax-sweep-data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train_dir = training_set(args.data)
    for setting in args.settings:
        config = configured(setting)
        scale, epochs, _, input_size = SETTINGS[setting]
        print(f"== {setting}: s={scale or 'config'} epochs={config['train']['epochs']} "
              f"milestones={config['train']['schedule']['milestones']} input={config['model']['input_size']}", flush=True)
        results: dict[str, dict[str, Any]] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for run in args.runs:
                r = results[run] = run_one(config, run, train_dir, Path(tmp))
                flag = "SATURATED" if is_saturated(r["loss"], r["below"]) else "ok"
                print(f"  {run:22s} final loss {r['loss']:8.3f}  median p_y {r['median']:.3e}  "
                      f"under 1e-6 {r['below']:6.1%}  CPU {r['cpu_s']:6.1f} s  {flag}", flush=True)
        total = sum(r["cpu_s"] for r in results.values())
        saturated = [run for run, r in results.items() if is_saturated(r["loss"], r["below"])]
        by_sha: dict[str, list[str]] = {}
        for run, r in results.items():
            by_sha.setdefault(r["sha"], []).append(run)
        twins = [group for group in by_sha.values() if len(group) > 1]
        print(f"  -> {setting}: {len(results)} runs, CPU {total:.1f} s ({total / len(results):.1f} s/run); "
              + ("every run leaves saturation" if not saturated else f"saturated: {', '.join(saturated)}")
              + ("" if not twins else f"; identical backbones: {twins}"), flush=True)


if __name__ == "__main__":
    sys.exit(main())
