"""Verdict paragraphs computed from the report's numbers (pages 01, 02, 06 and 07); no verdict text is typed by hand.

Each function takes the table the page shows and returns Markdown whose every number and every conclusion follows
from that table by the rule stated in the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from x2softmax.evaluate.uncertainty import UNSTABLE, seed_verdict
from x2softmax.losses import SUBJECT, default_hparams
from x2softmax.report.summaries import margin_at_angles

TIE_FRACTION = 0.05  # toy compactness: angles within 5 % of each other count as a tie (one seed, no interval)


def _deg(value: float, decimals: int = 1) -> str:
    return f"{value:.{decimals}f}°"


def margin_claim_verdict(angular: pd.DataFrame, loss: str = SUBJECT, angles: Sequence[float] = (60, 90, 120, 180)) -> str:
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


COMPACTNESS_WORDS = {"X2 better": "more compact", "X2 worse": "less compact",
                     "no detectable difference": "no detectable difference", UNSTABLE: UNSTABLE}


def compactness_outcome(row: Mapping[str, Any]) -> str:
    """"more compact" / "less compact" / "no detectable difference" / "unstable over seeds" for one row of
    `x2softmax.analysis.toy.compactness_comparisons` (loss minus rival, in degrees: negative = more compact)."""
    seed_intervals = [tuple(-float(v) for v in reversed(pair.split(":"))) for pair in str(row["seed_intervals"]).split()]
    seed_values = [-float(v) for v in str(row["seed_differences"]).split()]
    call = seed_verdict(-float(row["ci_high"]), -float(row["ci_low"]), seed_intervals, seed_values)
    return COMPACTNESS_WORDS.get(call, "no comparison")


def _claim_from(outcomes: Sequence[str]) -> str:
    """The claim's verdict from its comparisons' outcomes."""
    if all(o == "more compact" for o in outcomes):
        return "the claim holds"
    if any(o == "less compact" for o in outcomes):
        return "the claim does not hold"
    if any(o == UNSTABLE for o in outcomes):
        return "unstable over seeds (the seeds' verdicts disagree)"
    return "the claim is not supported (no clear difference)"


def compactness_verdict(compactness: pd.DataFrame, loss: str = SUBJECT,
                        rivals: Sequence[str] = ("arcface", "elasticface_arc"), tie: float = TIE_FRACTION,
                        comparisons: pd.DataFrame | None = None) -> str:
    """Verdict on "X2 gives more compact classes than ArcFace/ElasticFace" per dimension, from the mean angle of a
    held-out feature to its class centre: with `comparisons` (a `dim` column plus the rows of
    `x2softmax.analysis.toy.compactness_comparisons`) by the interval over seeds and held-out samples, stated only
    when every seed agrees (`compactness_outcome`); without, a difference below `tie` of the rival's angle is a tie."""
    out = []
    for dim, rows in compactness.groupby("dim", sort=True):
        angle = rows.set_index("loss")["mean_angle_to_centre_deg"]
        if loss not in angle.index:
            continue
        present = [r for r in rivals if r in angle.index]
        if not present:
            out.append(f"- **{dim}-D**: none of {', '.join(rivals)} was trained; no comparison.")
            continue
        given = (comparisons[(comparisons["dim"] == dim) & (comparisons["loss"] == loss)].set_index("rival")
                 if comparisons is not None else pd.DataFrame())
        parts, outcomes = [], []
        for rival in present:
            if rival in given.index:
                row = given.loc[rival]
                outcome = compactness_outcome(row)
                spread = (f", seeds {row['seed_low']:+.2f}° … {row['seed_high']:+.2f}°"
                          if len(str(row["seeds"]).split()) > 1 else "")
                parts.append(f"{rival} {_deg(angle[rival], 2)}; {loss} − {rival} {row['difference']:+.2f}° "
                             f"[{row['ci_low']:+.2f}, {row['ci_high']:+.2f}] over seeds {row['seeds']}{spread} "
                             f"({outcome})")
            else:
                diff = angle[loss] - angle[rival]
                outcome = ("tie" if abs(diff) <= tie * angle[rival]
                           else ("more compact" if diff < 0 else "less compact"))
                parts.append(f"{rival} {_deg(angle[rival], 2)} ({outcome})")
            outcomes.append(outcome)
        out.append(f"- **{dim}-D**: {loss} {_deg(angle[loss], 2)} mean angle to its centre against "
                   + "; ".join(parts) + f": {_claim_from(outcomes)}.")
    if not out:
        return f"{loss} was not trained in the toy example; no verdict."
    rule = ("the difference of mean angles with its 95 % interval (held-out samples resampled, training noise pooled "
            "over the losses' seeds); a verdict is stated only when every seed's own interval agrees or a decisive "
            "mean holds the seeds' spread"
            if comparisons is not None and len(comparisons) else
            f"differences below {tie:.0%} of the rival's angle count as a tie (one seed, no interval)")
    return (f"Claim: {loss} gives more compact classes. Rule: a smaller mean angle to the class centre is more "
            f"compact; {rule}. The angles shown are the first seed's (the figures).\n\n" + "\n".join(out))


ABLATION_PROTOCOLS = ("10fold", "oracle")  # the accuracy protocols page 06 shows (Table 6.1), each read


def _ablation_call(frame: pd.DataFrame, run: str, default_run: str, protocol: str, datasets: Sequence[str],
                   intervals: pd.DataFrame | None) -> tuple[str, list[float]] | None:
    """One protocol's reading of an ablation: the call (better/worse/no difference, or no interval) and the deltas."""
    deltas, better, worse, unknown = [], [], [], []
    for ds in datasets:
        column = f"{ds} {protocol}"
        if column not in frame.columns:
            continue
        delta = frame.loc[run, column] - frame.loc[default_run, column]
        if not np.isfinite(delta):
            continue
        deltas.append(delta)
        low = high = None
        if intervals is not None:
            hit = intervals[(intervals["run"] == run) & (intervals["dataset"] == ds)
                            & (intervals["protocol"] == protocol)]
            if len(hit):
                low, high = float(hit["low"].iloc[0]), float(hit["high"].iloc[0])
        if low is None:
            sd = np.hypot(frame.loc[run].get(f"{column} std", np.nan), frame.loc[default_run].get(f"{column} std", np.nan))
            if not np.isfinite(sd):
                unknown.append(ds)
                continue
            low, high = delta - 2 * sd / np.sqrt(10), delta + 2 * sd / np.sqrt(10)
        (better if low > 0 else worse if high < 0 else []).append(ds)
    if not deltas:
        return None
    if better and not worse:
        call = f"better than {default_run} on {', '.join(better)}"
    elif worse and not better:
        call = f"worse than {default_run} on {', '.join(worse)}"
    elif better and worse:
        call = f"better on {', '.join(better)}, worse on {', '.join(worse)}"
    else:
        call = "no benchmark differs beyond the noise"
    if unknown:
        call += f" (no interval on {', '.join(unknown)})"
    return call, deltas


def ablation_verdict(table: pd.DataFrame, default_run: str, intervals: pd.DataFrame | None = None,
                     identical: Sequence[str] = ()) -> str:
    """Per ablation and per protocol shown (10-fold and oracle): mean accuracy change over the benchmarks, and on
    which it exceeds the noise; protocols that disagree are said to.

    Noise: `intervals` (run, dataset, protocol, low, high of the difference to the default run, in points: test-set and
    training noise) where given,
    else twice the standard error of the difference of two 10-fold means, 2·√(sd₁² + sd₂²)/√10, from the fold
    standard deviations; a protocol without either has no interval and no call. An ablation in `identical` trained a
    byte-identical network to the default run: it gets no verdict.
    """
    frame = table.set_index("run")
    if intervals is not None and "protocol" not in intervals.columns:
        intervals = intervals.assign(protocol="10fold")
    protocols = [p for p in ABLATION_PROTOCOLS if any(c.endswith(f" {p}") and not c.startswith("Δ")
                                                       for c in frame.columns)]
    datasets = list(dict.fromkeys(c.rsplit(" ", 1)[0] for c in frame.columns
                                  if not c.startswith("Δ") and c.rsplit(" ", 1)[-1] in protocols))
    if default_run not in frame.index or not datasets:
        return "No ablation runs with 10-fold or oracle accuracies in this configuration; no verdict."
    lines = []
    for run in frame.index:
        if run == default_run:
            continue
        overrides = frame.loc[run, "overrides"] if "overrides" in frame.columns else ""
        if run in identical:
            lines.append(f"- **{run}** ({overrides}): identical networks: its trained backbone is byte-identical to "
                         f"{default_run}'s, so the ablation changed nothing in training and was not tested.")
            continue
        readings = {p: r for p in protocols if (r := _ablation_call(frame, run, default_run, p, datasets, intervals))}
        if not readings:
            continue
        parts = [f"{p}: mean Δ {float(np.mean(deltas)):+.2f} points over {len(deltas)} benchmarks, {call}"
                 for p, (call, deltas) in readings.items()]
        calls = {call.split(" (no interval")[0] for call, _ in readings.values()}
        agree = "" if len(calls) == 1 else " The protocols disagree: read the difference as protocol-dependent."
        lines.append(f"- **{run}** ({overrides}): " + "; ".join(parts) + "." + agree)
    fold_noise = "± 2·√(sd₁² + sd₂²)/√10 from the fold standard deviations"
    noise = (f"the paired 95 % interval of results/uncertainty (test-set and training noise) where given, else "
             f"{fold_noise}"
             if intervals is not None else fold_noise)
    return (f"Accuracy of each ablation minus the default run `{default_run}` under each protocol shown "
            f"({', '.join(protocols)}; noise: {noise}):\n\n" + "\n".join(lines))


def geometry_verdict(frames: Mapping[str, pd.DataFrame], specs: Mapping[str, Mapping[str, Any]],
                     run: str = SUBJECT, *, synthetic: bool) -> str:
    """Where the trained nearest-centre angles of `run` lie on its loss's two-class margin curve (page 01); a verdict
    drawn from training on synthetic data says so."""
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
    trained = "on synthetic data (not the paper's faces), " if synthetic else ""
    meaning = meaning.replace("the opposite of the paper's claim", f"{trained}the opposite of the paper's claim"
                              ).replace("as the paper claims", f"{trained}as the paper claims")
    return (f"The trained class centres of `{run}` have nearest-neighbour angles from {_deg(lo)} to {_deg(hi)} "
            f"(median {_deg(med)}). Its two-class margin is smallest at θ_w = {low_at:.0f}° (page 01): the trained "
            f"angles lie {side} of that minimum, {meaning}.")


def x2_defaults() -> dict[str, float]:
    """The library's X2-Softmax a, h, k (the centre of the analysis grid)."""
    hparams = default_hparams(SUBJECT)
    return {name: float(hparams[name]) for name in ("a", "h", "k")}
