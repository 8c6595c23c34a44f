"""What the CPU pins cost and what they fix (config key `cpu_kernels`, x2softmax.cpukernels): the embedded default's
training job of a run (its own spec, as rule `train` passes it) and the evaluation job of the network it trained
(the arguments rule `evaluate` passes), each in its own process, in turns under each setting:

- native: no code-path variable set (each library takes the CPU's fastest path);
- avx2: the pins the workflow exports (`cpu_kernels: avx2`);
- avx2 + every knob: the pins plus every other instruction-set knob forced down to AVX2 (MKL_ENABLE_INSTRUCTIONS,
  oneDNN's older DNNL_MAX_CPU_ISA): an AVX-512 machine's closest imitation of an AVX2-only one. Its bytes must equal
  the pinned run's.

Usage: python bench/cpu_kernels.py [--runs softmax] [--repeats 3] [--no-evaluate]
Needs the default's synthesized data (`snakemake --cores 2 results/data/MANIFEST.json`) and, for the evaluation
jobs, its aligned IJB stores and decoded pair stores (`snakemake --cores 2 results/aligned/IJBB/images.npy ...
results/pairs/lfw.npz ...`, the rules `align` and `decode_pairs`). Prints per setting and job kind the median and
minimum wall and CPU seconds of the job's process (its start included, as a job pays it; on a shared machine the CPU
seconds are the steadier measure), the ratio of median CPU seconds against native, and the
sha256 of each trained backbone and evaluation table (first 16 hex digits; one value per setting when the setting
is reproducible run to run).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from x2softmax import config as xcfg
from x2softmax.cpukernels import CODE_PATH_VARIABLES, pin_environment

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "native": {},
    "avx2": pin_environment("avx2"),
    "avx2 + every knob": {**pin_environment("avx2"), "MKL_ENABLE_INSTRUCTIONS": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2"},
}


def _sha(path: Path) -> str:
    """First 16 hex digits of a file's sha256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _timed(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Run one job's command in its own process: its wall and CPU seconds (a failure prints its log and stops)."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        sys.exit(f"{' '.join(command[:4])} failed ({done.returncode}):\n{log.read_text()[-3000:]}")
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _evaluate_command(cfg: dict, run: str, backbone: Path, out: Path, cache: Path) -> list[str]:
    """The evaluation job of workflow/rules/evaluate.smk for `run`, reading `backbone` and writing under `out`."""
    ev = cfg["evaluate"]
    return [sys.executable, "-m", "x2softmax", "evaluate", "--model", str(backbone), "--run", run,
            "--loss", xcfg.loss_spec(cfg, run)["name"], "--data-root", cfg["data"]["root"],
            "--benchmarks", ",".join(ev["benchmarks"]), "--protocols", ",".join(ev["protocols"]),
            "--ijb", ",".join(ev["ijb"]), "--aligned-root", "results/aligned", "--ijb-mode", ev["ijb_mode"],
            "--batch-size", str(ev["batch_size"]), "--gpus", str(ev["gpus"]), "--threads", str(cfg["train"]["threads"]),
            "--cache", str(cache), "--pair-stores", "results/pairs", "--out", str(out)]


def main() -> None:
    """Train (and evaluate) each run under each setting in turns; print times, ratios and hashes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="softmax", help="comma-separated runs of the embedded default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-evaluate", action="store_true", help="time the training jobs only")
    args = parser.parse_args()
    cfg = xcfg.load_config()
    if not (ROOT / cfg["data"]["root"] / "MANIFEST.json").is_file():
        sys.exit(f"{cfg['data']['root']}/MANIFEST.json absent: synthesize the default's data first (see --help)")
    evaluate = not args.no_evaluate
    if evaluate and not (ROOT / "results/pairs").is_dir():
        sys.exit("results/pairs absent: decode the pair stores and align the IJB suites first, or pass --no-evaluate")
    base = {k: v for k, v in os.environ.items() if k not in CODE_PATH_VARIABLES}
    base["OMP_NUM_THREADS"] = str(cfg["train"]["threads"])
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    hashes: dict[tuple[str, str], set[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            order = list(SETTINGS)[repeat % len(SETTINGS):] + list(SETTINGS)[:repeat % len(SETTINGS)]
            for run in args.runs.split(","):
                spec = xcfg.run_spec(cfg, run).to_json()
                for name in order:
                    env, job = {**base, **SETTINGS[name]}, Path(tmp) / f"{name}-{run}-{repeat}".replace(" ", "_")
                    train = [sys.executable, "-m", "x2softmax", "train", "--spec", spec, "--out", str(job / "out"),
                             "--ckpt", str(job / "ckpt"), "--gpus", str(cfg["train"]["gpus"])]
                    job.mkdir()
                    times.setdefault((name, "train"), []).append(_timed(train, env, job / "train.log"))
                    hashes.setdefault((name, f"{run} backbone"), set()).add(_sha(job / "out/backbone.pt"))
                    if evaluate:
                        command = _evaluate_command(cfg, run, job / "out/backbone.pt", job / "eval", job / "cache")
                        times.setdefault((name, "evaluate"), []).append(_timed(command, env, job / "eval.log"))
                        hashes.setdefault((name, f"{run} metrics"), set()).add(_sha(job / "eval/metrics.csv"))
    print("| setting | job | wall s: median, min | CPU s: median, min | ratio to native (median CPU s) |\n"
          "|---|---|---|---|---|")
    for (name, kind), values in times.items():
        wall, cpu = [v[0] for v in values], [v[1] for v in values]
        ratio = statistics.median(cpu) / statistics.median(v[1] for v in times[("native", kind)])
        print(f"| {name} | {kind} | {statistics.median(wall):.2f}, {min(wall):.2f} | {statistics.median(cpu):.2f}, "
              f"{min(cpu):.2f} | {ratio:.3f} |")
    print("\n| setting | output | sha256 (first 16) |\n|---|---|---|")
    for (name, what), values in hashes.items():
        print(f"| {name} | {what} | {', '.join(sorted(values))} |")
    for what in {w for _, w in hashes}:
        same = hashes[("avx2", what)] == hashes[("avx2 + every knob", what)] and len(hashes[("avx2", what)]) == 1
        print(f"{what}: avx2 pins {'equal' if same else 'DIFFER FROM'} every knob forced to AVX2")


if __name__ == "__main__":
    main()
