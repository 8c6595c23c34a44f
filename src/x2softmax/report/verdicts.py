"""Verdict paragraphs computed from the report's numbers (pages 01, 02, 06 and 07); no verdict text is typed by hand.

Each function takes the table the page shows and returns Markdown whose every number and every conclusion follows
from that table by the rule stated in the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from x2softmax.report.summaries import margin_at_angles

TIE_FRACTION = 0.05  # toy compactness: angles within 5 % of each other count as a tie (one seed, no interval)


def _deg(value: float, decimals: int = 1) -> str:
    return f"{value:.{decimals}f}°"


def margin_claim_verdict(angular: pd.DataFrame, loss: str, angles: Sequence[float] = (60, 90, 120, 180)) -> str:
    """A plain-language verdict, computed from the margin table, on "the margin grows with the inter-class angle"."""
    table = margin_at_angles(angular, angles).set_index("loss")
    if loss not in table.index:
        raise KeyError(f"loss {loss!r} is not in the angular margin table; present: {list(table.index)}")
    row = table.loc[loss]
    values = ", ".join(f"{row[f'margin_at_{a:g}_deg']:.2f}° at θ_w = {a:g}°" for a in angles)
    shape = row["shape"]
    head = (
        f"**{loss}**: a decision margin exists for θ_w ≥ {row['exists_from_deg']:.0f}°; its angular margin is "
        f"{values}; the smallest margin is {row['min_margin_deg']:.2f}° at θ_w = {row['min_at_deg']:.0f}°. "
    )
    if shape == "increasing":
        verdict = "The margin grows with the angle between the classes over the whole range: the claim holds."
    elif shape == "U-shaped":
        verdict = (
            f"The margin first shrinks and grows only above θ_w ≈ {row['min_at_deg']:.0f}°: the claim holds only for "
            f"classes more than {row['min_at_deg']:.0f}° apart, and fails for closer classes, where it behaves like "
            "CosFace (a margin that shrinks as the classes separate)."
        )
    elif shape == "constant":
        verdict = "The margin does not depend on the angle between the classes: the claim does not hold."
    elif shape == "decreasing":
        verdict = "The margin shrinks as the classes separate: the claim does not hold."
    else:
        verdict = f"The margin is {shape} in the angle between the classes: the claim does not hold as stated."
    others = [
        f"{name}: {table.loc[name, 'shape']}" for name in table.index if name != loss and table.loc[name, "shape"]
    ]
    return head + verdict + (f" For comparison — {'; '.join(others)}." if others else "")


def grid_verdict(grid_minimum: pd.DataFrame, defaults: Mapping[str, float]) -> str:
    """Which (a, h, k) settings of the X2 grid give which margin shape (from the x2_grid_minimum table)."""
    lines = []
    for shape, rows in grid_minimum.groupby("shape", sort=False):
        settings = []
        for _, row in rows.iterrows():
            where = (f", minimum {_deg(row['min_margin_deg'])} at θ_w = {_deg(row['min_at_deg'], 0)}"
                     if shape == "U-shaped" else "")
            settings.append(f"{row['param']} = {row[row['param']]:g}{where}")
        lines.append(f"- **{shape}** margin: " + "; ".join(settings))
    increasing = grid_minimum[grid_minimum["shape"] == "increasing"]
    base = ", ".join(f"{k} = {v:g}" for k, v in defaults.items())
    if len(increasing):
        names = ", ".join(f"{r['param']} = {r[r['param']]:g}" for _, r in increasing.iterrows())
        tail = (f"Only with {names} (the others at {base}) does the margin grow over the whole range where it exists, "
                "i.e. the claim holds as stated only there.")
    else:
        tail = f"No setting of the grid (around {base}) gives a margin that grows over the whole range."
    return "Over the a, h, k grid (one parameter varied at a time):\n\n" + "\n".join(lines) + "\n\n" + tail


def compactness_verdict(compactness: pd.DataFrame, loss: str = "x2softmax",
                        rivals: Sequence[str] = ("arcface", "elasticface_arc"), tie: float = TIE_FRACTION) -> str:
    """Verdict on "X2 gives more compact classes than ArcFace/ElasticFace" per dimension, from the mean angle of a
    held-out feature to its class centre (a difference below `tie` of the rival's angle counts as a tie)."""
    out = []
    for dim, rows in compactness.groupby("dim", sort=True):
        angle = rows.set_index("loss")["mean_angle_to_centre_deg"]
        if loss not in angle.index:
            continue
        present = [r for r in rivals if r in angle.index]
        if not present:
            out.append(f"- **{dim}-D**: none of {', '.join(rivals)} was trained; no comparison.")
            continue
        parts, outcomes = [], []
        for rival in present:
            diff = angle[loss] - angle[rival]
            outcome = "tie" if abs(diff) <= tie * angle[rival] else ("more compact" if diff < 0 else "less compact")
            outcomes.append(outcome)
            parts.append(f"{rival} {_deg(angle[rival], 2)} ({outcome})")
        if all(o == "more compact" for o in outcomes):
            verdict = "the claim holds"
        elif any(o == "less compact" for o in outcomes):
            verdict = "the claim does not hold"
        else:
            verdict = "the claim is not supported (no clear difference)"
        out.append(f"- **{dim}-D**: {loss} {_deg(angle[loss], 2)} mean angle to its centre against "
                   + "; ".join(parts) + f": {verdict}.")
    if not out:
        return f"{loss} was not trained in the toy example; no verdict."
    return (f"Claim: {loss} gives more compact classes. Rule: a smaller mean angle to the class centre is more "
            f"compact; differences below {tie:.0%} of the rival's angle count as a tie (one seed, no interval).\n\n"
            + "\n".join(out))


def ablation_verdict(table: pd.DataFrame, baseline: str, intervals: pd.DataFrame | None = None,
                     identical: Sequence[str] = ()) -> str:
    """Per ablation: mean 10-fold accuracy change over the benchmarks, and on how many it exceeds the noise.

    Noise: twice the standard error of the difference of two 10-fold means, 2·√(sd₁² + sd₂²)/√10, from the fold
    standard deviations; `intervals` (run, dataset, low, high of the difference to the baseline, in points) replaces
    it where given. An ablation in `identical` trained a byte-identical network to the baseline: it gets no verdict.
    """
    frame = table.set_index("run")
    datasets = [c.removesuffix(" 10fold") for c in frame.columns if c.endswith(" 10fold") and not c.startswith("Δ")]
    if baseline not in frame.index or not datasets:
        return "No ablation runs with 10-fold accuracies in this configuration; no verdict."
    lines = []
    for run in frame.index:
        if run == baseline:
            continue
        overrides = frame.loc[run, "overrides"] if "overrides" in frame.columns else ""
        if run in identical:
            lines.append(f"- **{run}** ({overrides}): identical networks: its trained backbone is byte-identical to "
                         f"{baseline}'s, so the ablation changed nothing in training and was not tested.")
            continue
        deltas, better, worse = [], [], []
        for ds in datasets:
            delta = frame.loc[run, f"{ds} 10fold"] - frame.loc[baseline, f"{ds} 10fold"]
            if not np.isfinite(delta):
                continue
            deltas.append(delta)
            low = high = None
            if intervals is not None:
                hit = intervals[(intervals["run"] == run) & (intervals["dataset"] == ds)]
                if len(hit):
                    low, high = float(hit["low"].iloc[0]), float(hit["high"].iloc[0])
            if low is None:
                sd = np.hypot(frame.loc[run].get(f"{ds} 10fold std", np.nan),
                              frame.loc[baseline].get(f"{ds} 10fold std", np.nan))
                noise = 2 * sd / np.sqrt(10) if np.isfinite(sd) else 0.0
                low, high = delta - noise, delta + noise
            (better if low > 0 else worse if high < 0 else []).append(ds)
        if not deltas:
            continue
        mean = float(np.mean(deltas))
        if better and not worse:
            call = f"better than {baseline} on {', '.join(better)}"
        elif worse and not better:
            call = f"worse than {baseline} on {', '.join(worse)}"
        elif better and worse:
            call = f"better on {', '.join(better)}, worse on {', '.join(worse)}"
        else:
            call = "no benchmark differs beyond the noise"
        lines.append(f"- **{run}** ({overrides}): mean Δ {mean:+.2f} points over {len(deltas)} benchmarks; {call}.")
    fold_noise = "± 2·√(sd₁² + sd₂²)/√10 from the fold standard deviations"
    noise = (f"the paired 95 % bootstrap interval of results/uncertainty where given, else {fold_noise}"
             if intervals is not None else fold_noise)
    return (f"10-fold accuracy of each ablation minus the default run `{baseline}` (noise: {noise}):\n\n"
            + "\n".join(lines))


def geometry_verdict(frames: Mapping[str, pd.DataFrame], specs: Mapping[str, Mapping[str, Any]],
                     run: str = "x2softmax") -> str:
    """Where the trained nearest-centre angles of `run` lie on its loss's two-class margin curve (page 01)."""
    from x2softmax.analysis.margins import angular_margin

    if run not in frames:
        return f"`{run}` was not trained in this configuration; no verdict."
    spec = specs[run]
    theta_w = np.arange(1.0, 180.5, 0.5)
    try:
        curve = np.rad2deg(angular_margin(spec["name"], np.deg2rad(theta_w), **dict(spec.get("hparams", {}))))
    except ValueError:
        return f"`{run}`'s loss has no fixed two-class margin; no verdict."
    finite = np.isfinite(curve)
    if not finite.any():
        return f"`{run}`'s loss has no two-class margin at any angle; no verdict."
    low_at = float(theta_w[finite][np.argmin(curve[finite])])
    angles = frames[run]["nearest_angle_deg"].to_numpy()
    falling = float(np.mean(angles < low_at))
    lo, hi, med = float(angles.min()), float(angles.max()), float(np.median(angles))
    side = ("all on the falling side" if falling == 1.0 else "all on the rising side" if falling == 0.0
            else f"{falling:.0%} on the falling side")
    meaning = ("so for every trained class a neighbour that moves further away gets a *smaller* margin, the "
               "opposite of the paper's claim (page 01's verdict: the claim holds only above θ_w ≈ "
               f"{low_at:.0f}°)" if falling == 1.0 else
               "so the margin grows with the angle for these classes, as the paper claims" if falling == 0.0 else
               f"so the claim applies to the {1 - falling:.0%} of classes above θ_w ≈ {low_at:.0f}° only")
    return (f"The trained class centres of `{run}` have nearest-neighbour angles from {_deg(lo)} to {_deg(hi)} "
            f"(median {_deg(med)}). Its two-class margin is smallest at θ_w = {low_at:.0f}° (page 01): the trained "
            f"angles lie {side} of that minimum, {meaning}.")


def x2_defaults() -> dict[str, float]:
    """The library's X2-Softmax a, h, k (the centre of the analysis grid)."""
    from x2softmax.losses import default_hparams

    hparams = default_hparams("x2softmax")
    return {name: float(hparams[name]) for name in ("a", "h", "k")}
