"""A loss and a verification benchmark added to a project copy the way docs/architecture.md tells a maintainer to
("Adding a loss": its module + the config lines that train it; "Adding a benchmark": its vocabulary entry + its
published numbers + the config line that evaluates it). The `smoke_project` fixture adds both before its DAG runs.

The copy's processes import the copy's own package (wfutil: src/ first on PYTHONPATH), so the registry finds the new
module among the package's loss modules and the generator, the schema and the reports read the new entry.
"""

from __future__ import annotations

from pathlib import Path

import yaml

PROBE_LOSS, PROBE_LOSS_LABEL = "probeface", "ProbeFace"
PROBE_BENCHMARK, PROBE_BENCHMARK_LABEL = "probe_fp", "Probe-FP"
# The published-number row of the test benchmark: a test fixture, not a publication (its source says so).
PROBE_SOURCE = "smoke test fixture (not a publication)"

LOSS_MODULE = f'''"""{PROBE_LOSS_LABEL}: a loss the smoke test adds in a module of its own (tests/workflow/extend.py)."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from x2softmax.losses.base import MarginLoss, register_loss


@register_loss
class ProbeFace(MarginLoss):
    """{PROBE_LOSS_LABEL}: target logit s·(cos θ_y − MARGIN), a margin fixed in the class."""

    name: ClassVar[str] = "{PROBE_LOSS}"
    display_name: ClassVar[str] = "{PROBE_LOSS_LABEL}"
    paper: ClassVar[str] = "none: the smoke test's temporary loss"
    MARGIN: ClassVar[float] = 0.2

    def __init__(self, s: float = 64.0, gradient: str = "straight_through") -> None:
        super().__init__(s=s, gradient=gradient)

    def fixed_target(self, cosine: Tensor) -> Tensor:
        """f(θ) = cos θ − MARGIN."""
        return cosine - self.MARGIN
'''


def add_probe_loss(root: Path, preset: Path) -> list[Path]:
    """Add PROBE_LOSS to the project at `root` and train it under `preset` (loss run and toy); the files touched."""
    module = root / "src/x2softmax/losses" / f"{PROBE_LOSS}.py"
    module.write_text(LOSS_MODULE, encoding="utf-8")
    _edit_yaml(preset, lambda cfg: cfg.update(
        losses={**cfg.get("losses", {}), PROBE_LOSS: {"s": 6.0}},
        run_losses=[*cfg["run_losses"], PROBE_LOSS],
        toy={**cfg["toy"], "losses": [*cfg["toy"]["losses"], PROBE_LOSS]}))
    return [module, preset]


def add_probe_benchmark(root: Path, preset: Path) -> list[Path]:
    """Add PROBE_BENCHMARK (a frontal-profile set) and a published number for it to the project at `root`, and
    evaluate it under `preset`; the files touched."""
    vocabulary = root / "src/x2softmax/vocabulary.py"
    text = vocabulary.read_text(encoding="utf-8")
    end = "\n}\nBENCHMARKS = tuple(VERIFICATION)"
    assert text.count(end) == 1, f"{vocabulary}: the VERIFICATION table no longer ends as this test expects"
    entry = (f'\n    "{PROBE_BENCHMARK}": Benchmark("{PROBE_BENCHMARK_LABEL}", "frontal_profile", "random", '
             f'"{PROBE_BENCHMARK}"),')
    vocabulary.write_text(text.replace(end, entry + end), encoding="utf-8")
    reference = root / "config/reference_numbers.csv"
    with reference.open("a", encoding="utf-8") as out:
        out.write(f"ArcFace,iResNet-50,MS1MV3,{PROBE_BENCHMARK_LABEL},accuracy_pct,99.5,"
                  f"10-fold flip; best during training,{PROBE_SOURCE}\n")
    _edit_yaml(preset, lambda cfg: cfg["evaluate"].update(
        benchmarks=[*cfg["evaluate"]["benchmarks"], PROBE_BENCHMARK]))
    return [vocabulary, reference, preset]


def _edit_yaml(path: Path, edit) -> None:
    """Apply `edit` to the YAML mapping in `path` and write it back."""
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
