"""How large the synthetic verification sets and IJB suites must be: the 95 % half-width of a PAIRED difference
between two networks (accuracy on a .bin set, TAR@FAR on an IJB suite) for a set design, by simulation.

Score model (two networks A and B scored on the same test set): every image (verification) or template (IJB) has
an effect on the scores of the pairs it is in, shared by both networks with correlation `--corr`, plus a per-pair
term with the same correlation; genuine pairs score `--separation` higher. The effects' variance share is
`--unit-share`. Parameters are calibrated on the committed embedded-default pages at 0e02d5c: 600 independent
pairs gave paired 10-fold half-widths of about 3.2 points (lfw), 266 IJB-C genuine pairs about 5.4 TAR points at
FAR 1e-3. For each design it prints
  - "true": 1.96 x the standard deviation of the difference over fresh test sets (what the data can resolve),
  - "bootstrap": the mean half-width of the percentile interval the pages print (pairs resampled within folds for
    .bin sets, templates for IJB), on one test set per repetition.
Usage: .venv/bin/python bench/eval_set_power.py [--reps 200] [--boot 300]  (about 10 CPU-min; --reps 40: 2)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

FOLDS = 10


def _effects(rng: np.random.Generator, n: int, corr: float) -> np.ndarray:
    """[2, n] standard normal effects of networks A and B with correlation `corr`."""
    shared, own = rng.standard_normal(n), rng.standard_normal((2, n))
    return corr * shared + np.sqrt(1.0 - corr**2) * own


def verification_design(rng: np.random.Generator, pairs: int, identities: int, images: int) -> np.ndarray:
    """[P, 2] image indices: genuine pairs within an identity, impostors across; images=0: every pair its own."""
    half = pairs // 2
    if images == 0:
        return np.arange(2 * pairs).reshape(pairs, 2)
    ident = rng.integers(identities, size=half)
    a, b = rng.integers(images, size=half), (rng.integers(1, images, size=half))
    genuine = np.stack([ident * images + a, ident * images + (a + b) % images], axis=1)
    x = rng.integers(identities, size=half)
    y = (x + rng.integers(1, identities, size=half)) % identities
    impostor = np.stack([x * images + rng.integers(images, size=half), y * images + rng.integers(images, size=half)], 1)
    return np.concatenate([genuine, impostor])


def accuracies(scores: np.ndarray, issame: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """[..., networks] accuracy at the best threshold per network (weighted pairs; oracle rule, near 10-fold)."""
    out = []
    for s in scores:
        order = np.argsort(s)
        w, same = weights[:, order], issame[order]
        # threshold after position k: impostors below (rejected correctly), genuine above (accepted)
        below_imp = np.cumsum(w * ~same, axis=1)
        above_gen = (w * same).sum(axis=1, keepdims=True) - np.cumsum(w * same, axis=1)
        out.append((below_imp + above_gen).max(axis=1) / w.sum(axis=1))
    return np.stack(out, axis=-1)


def verification(args: argparse.Namespace, pairs: int, identities: int, images: int, rng: np.random.Generator
                 ) -> tuple[float, float]:
    """(true, bootstrap) 95 % half-width in points of the paired accuracy difference A - B."""
    issame = np.repeat([True, False], pairs // 2)
    diffs, widths = [], []
    for rep in range(args.reps):
        design = verification_design(rng, pairs, identities, images)
        n_units = design.max() + 1
        unit = _effects(rng, n_units, args.corr) * np.sqrt(args.unit_share / 2)
        pair = _effects(rng, pairs, args.corr) * np.sqrt(1.0 - args.unit_share)
        scores = unit[:, design[:, 0]] + unit[:, design[:, 1]] + pair + args.separation * issame
        acc = accuracies(scores, issame, np.ones((1, pairs)))[0]
        diffs.append(acc[0] - acc[1])
        if rep < args.boot_reps:
            folds = rng.permutation(pairs).reshape(FOLDS, -1)  # bootstrap within folds, as the pages do
            weights = np.zeros((args.boot, pairs))
            for fold in folds:
                draws = rng.integers(len(fold), size=(args.boot, len(fold)))
                np.add.at(weights, (np.arange(args.boot)[:, None], fold[draws]), 1.0)
            boot = accuracies(scores, issame, weights)
            low, high = np.percentile(boot[:, 0] - boot[:, 1], [2.5, 97.5])
            widths.append((high - low) / 2)
    return 100 * 1.96 * float(np.std(diffs)), 100 * float(np.mean(widths))


def ijb_design(rng: np.random.Generator, subjects: int, templates: tuple[int, int]) -> np.ndarray:
    """Subject of each template."""
    return np.repeat(np.arange(subjects), rng.integers(templates[0], templates[1] + 1, size=subjects))


def tar_at(scores: np.ndarray, same: np.ndarray, far: float, weights: np.ndarray | None = None) -> np.ndarray:
    """[networks] TAR at the score threshold whose (weighted) impostor FAR is `far`."""
    out = []
    for s in scores:
        w = np.ones_like(s) if weights is None else weights
        imp, gen = s[~same], s[same]
        order = np.argsort(imp)[::-1]
        cum = np.cumsum(w[~same][order])
        k = min(np.searchsorted(cum, far * cum[-1]), len(order) - 1)
        thr = imp[order][k]
        out.append(float((w[same] * (gen > thr)).sum() / w[same].sum()))
    return np.array(out)


def ijb(args: argparse.Namespace, subjects: int, templates: tuple[int, int], rng: np.random.Generator
        ) -> tuple[float, float, int, int]:
    """(true, bootstrap) 95 % half-width in TAR points of A - B at FAR args.far, genuine and impostor pairs."""
    diffs, widths = [], []
    for rep in range(args.reps):
        subject = ijb_design(rng, subjects, templates)
        t1, t2 = np.triu_indices(len(subject), k=1)
        same = subject[t1] == subject[t2]
        unit = _effects(rng, len(subject), args.corr) * np.sqrt(args.ijb_unit_share / 2)
        pair = _effects(rng, len(t1), args.corr) * np.sqrt(1.0 - args.ijb_unit_share)
        scores = unit[:, t1] + unit[:, t2] + pair + args.ijb_separation * same
        tar = tar_at(scores, same, args.far)
        diffs.append(tar[0] - tar[1])
        if rep < args.boot_reps:
            boot = []
            for _ in range(args.boot // 3):  # templates resampled; a pair weighs the product of its templates'
                w_t = np.bincount(rng.integers(len(subject), size=len(subject)), minlength=len(subject))
                w = (w_t[t1] * w_t[t2]).astype(float)
                if w[same].sum() > 0:
                    b = tar_at(scores, same, args.far, w)
                    boot.append(b[0] - b[1])
            low, high = np.percentile(boot, [2.5, 97.5])
            widths.append((high - low) / 2)
    return 100 * 1.96 * float(np.std(diffs)), 100 * float(np.mean(widths)), int(same.sum()), int((~same).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200, help="fresh test sets per design")
    parser.add_argument("--boot", type=int, default=300, help="bootstrap replicates")
    parser.add_argument("--boot-reps", type=int, default=8, help="test sets whose bootstrap width is averaged")
    parser.add_argument("--corr", type=float, default=0.6, help="correlation of the two networks' score effects")
    parser.add_argument("--unit-share", type=float, default=0.5, help="score variance from image effects (.bin)")
    parser.add_argument("--separation", type=float, default=2.0, help="genuine - impostor mean score (.bin)")
    parser.add_argument("--ijb-unit-share", type=float, default=0.4, help="score variance from template effects")
    parser.add_argument("--ijb-separation", type=float, default=2.5, help="genuine - impostor mean score (IJB)")
    parser.add_argument("--far", type=float, default=1e-3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"95 % half-width of a paired difference, points (corr {args.corr}, {args.reps} test sets)")
    for label, pairs, ids, images in [("600 pairs, own images (old default)", 600, 0, 0),
                                      ("6,000 pairs, own images", 6000, 0, 0),
                                      ("6,000 pairs, 100 ids x 12 images (before)", 6000, 100, 12),
                                      ("12,000 pairs, 200 ids x 12 images", 12000, 200, 12),
                                      ("24,000 pairs, 200 ids x 16 images (default)", 24000, 200, 16)]:
        start = time.perf_counter()
        true, boot = verification(args, pairs, ids, images, rng)
        print(f"  .bin {label:<48} true ±{true:4.2f}  bootstrap ±{boot:4.2f}  ({time.perf_counter() - start:.0f} s)")
    for label, subjects, templates in [("IJB-C 55 subjects x 2-5 templates (old)", 55, (2, 5)),
                                       ("IJB-C 100 subjects x 6-12 templates (new)", 100, (6, 12)),
                                       ("IJB-B 70 subjects x 4-9 templates (new)", 70, (4, 9))]:
        start = time.perf_counter()
        true, boot, gen, imp = ijb(args, subjects, templates, rng)
        print(f"  {label:<53} TAR@{args.far:g} true ±{true:4.2f}  template bootstrap ±{boot:4.2f}  "
              f"({gen} genuine, {imp} impostor pairs; {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
