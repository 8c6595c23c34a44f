"""Bootstrap replicates of the verification and IJB metrics (resampling weights, vectorised over replicates).

A replicate is a vector of integer weights (how often each unit is drawn with replacement); every metric is
recomputed with those weights, for all replicates at once, and with the same weights for every run compared, so
that differences between runs are paired.

- Verification sets: the unit is the pair, drawn with replacement within each of the 10 contiguous folds, so the
  fold partition of the 10-fold protocol is kept; each replicate re-runs the whole protocol (threshold choice
  included). With all weights 1 the functions return exactly `ten_fold_accuracy` / `oracle_accuracy`.
- IJB suites: the unit is the template (the meta files carry no subject ids). Every template takes part in about a
  thousand pairs, so the pairs are far from independent: resampling single pairs would understate the
  uncertainty. A pair's weight is the product of its two templates' weights (each drawn copy of a template is
  paired with each copy of the other). The ROC of a replicate is read on a grid of points (`far_grid`): exactly
  for up to 64 false accepts, then in FAR steps of 2^(1/16) (4.4 %) within a factor 1.41 of each target FAR (a
  replicate whose FAR at the target falls outside reads the window's end); TAR is
  read with the reference rule (nearest FAR, highest TAR on ties) on that grid. One deliberate difference from the
  point estimate: the reference's ROC (sklearn ``drop_intermediate=True``) drops interior points of runs with
  equal steps, which can move the nearest point by one impostor step; a replicate's grid never drops points. With
  at most 64 impostor pairs, the grid is the full ROC (``drop_intermediate=False``) read by the reference rule
  exactly (tests/evaluate/test_eval_bootstrap.py against the plain resampling loop).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from x2softmax.evaluate.verification import ACCURACY_THRESHOLDS, N_FOLDS, fold_sizes

EXACT_RANKS = 64  # impostor ranks read exactly on the IJB grid
GRID_STEPS = 16  # grid points per factor of 2 in FAR around each target
GRID_SPAN = 8  # grid points on each side of each target: a factor of 2^(8/16) = 1.41 either way


def fold_stratified_weights(n_pairs: int, n_boot: int, rng: np.random.Generator,
                            n_folds: int = N_FOLDS) -> np.ndarray:
    """[n_boot, n_pairs] int32 draw counts: pairs resampled with replacement within each contiguous fold."""
    sizes = fold_sizes(n_pairs, n_folds)
    blocks = [rng.multinomial(size, np.full(size, 1.0 / size), size=n_boot) for size in sizes]
    return np.concatenate(blocks, axis=1).astype(np.int32)


def template_weights(n_templates: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n_boot, n_templates] int32 draw counts: templates resampled with replacement."""
    return rng.multinomial(n_templates, np.full(n_templates, 1.0 / n_templates), size=n_boot).astype(np.int32)


def _weighted_histogram(cells: np.ndarray, n_cells: int, weights: np.ndarray) -> np.ndarray:
    """[B, n_cells] sums of the replicate weights [B, N] of the items in each cell (cells [N] int)."""
    onehot = sp.csr_matrix((np.ones(len(cells)), (np.arange(len(cells)), cells)), shape=(len(cells), n_cells))
    return np.asarray((onehot.T @ weights.T.astype(np.float64)).T)


def ten_fold_accuracy_boot(dist: np.ndarray, issame: np.ndarray, weights: np.ndarray,
                           thresholds: np.ndarray = ACCURACY_THRESHOLDS) -> np.ndarray:
    """[B] mean held-out accuracy of the 10-fold protocol (threshold chosen per fold on the others) per replicate."""
    issame = np.asarray(issame, dtype=bool)
    sizes = fold_sizes(len(dist))
    fold = np.repeat(np.arange(N_FOLDS), sizes)
    n_thr = len(thresholds)
    k = np.searchsorted(thresholds, dist, side="right")  # dist < thr[j] <=> j >= k
    cells = (fold * 2 + issame) * (n_thr + 1) + k
    hist = _weighted_histogram(cells, N_FOLDS * 2 * (n_thr + 1), weights).reshape(-1, N_FOLDS, 2, n_thr + 1)
    below = np.cumsum(hist, axis=3)[..., :n_thr]  # [B, F, label, T] weight with dist < thr
    n_diff = hist[:, :, 0].sum(axis=2)  # [B, F]
    correct = below[:, :, 1] + (n_diff[:, :, None] - below[:, :, 0])  # [B, F, T]
    train_correct = correct.sum(axis=1, keepdims=True) - correct
    best = np.argmax(train_correct, axis=2)  # first maximum; train sizes are fixed per fold
    chosen = np.take_along_axis(correct, best[:, :, None], axis=2)[:, :, 0]
    return np.mean(chosen / sizes[None, :], axis=1)


def oracle_accuracy_boot(cos: np.ndarray, issame: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """[B] best accuracy over thresholds taken from the resampled pairs' own cosines (same if cos > thr)."""
    issame = np.asarray(issame, dtype=bool)
    values, group = np.unique(np.asarray(cos, dtype=np.float64), return_inverse=True)
    n_values = len(values)
    hist = _weighted_histogram(group.ravel() * 2 + issame, 2 * n_values, weights).reshape(-1, n_values, 2)
    impostors_at_or_below = np.cumsum(hist[:, :, 0], axis=1)
    genuine_above = hist[:, :, 1].sum(axis=1, keepdims=True) - np.cumsum(hist[:, :, 1], axis=1)
    correct = np.where(hist.sum(axis=2) > 0, impostors_at_or_below + genuine_above, -1.0)
    return correct.max(axis=1) / weights.sum(axis=1)


def verification_boot(scores: np.ndarray, issame: np.ndarray, protocol: str, weights: np.ndarray) -> np.ndarray:
    """[B] accuracy replicates of one protocol: squared L2 distances for "10fold", cosines for the oracles."""
    if protocol == "10fold":
        return ten_fold_accuracy_boot(scores, issame, weights)
    return oracle_accuracy_boot(scores, issame, weights)


def far_grid(impostor_scores: np.ndarray, fars: Sequence[float]) -> np.ndarray:
    """Descending thresholds t where a replicate's ROC is read as (FAR, TAR) of the pairs scoring > t.

    t is the impostor score of rank r + 1 for r false accepts, so each point is the top of its ROC step (the
    highest TAR with r false accepts, as the reference's flipud reading): r = 0..EXACT_RANKS and r = far x n x
    2^(i / GRID_STEPS), |i| <= GRID_SPAN, around each target FAR.
    """
    ordered = np.sort(np.asarray(impostor_scores, dtype=np.float64))[::-1]
    n = len(ordered)
    steps = 2.0 ** (np.arange(-GRID_SPAN, GRID_SPAN + 1) / GRID_STEPS)
    ranks = np.concatenate([np.arange(EXACT_RANKS + 1)] + [np.ceil(far * n * steps) for far in fars])
    ranks = np.unique(ranks.clip(0, n - 1).astype(np.int64))
    return np.unique(ordered[ranks])[::-1]


def _pair_products(tw: torch.Tensor, rows: np.ndarray, bins: np.ndarray, n_bins: int,
                   chunk: int = 1 << 18) -> torch.Tensor:
    """[n_bins, B] sums over the pairs in each bin of w[a] * w[c] (tw: [T, B] template weights, rows [M, 2])."""
    out = torch.zeros((n_bins, tw.shape[1]), dtype=torch.float64)
    for start in range(0, len(rows), chunk):
        r = torch.from_numpy(rows[start:start + chunk])
        prod = tw.index_select(0, r[:, 0]) * tw.index_select(0, r[:, 1])  # small integers: exact in float32
        part = torch.zeros_like(out, dtype=torch.float32).index_add_(0, torch.from_numpy(bins[start:start + chunk]), prod)
        out += part  # per chunk at most 2^18 products of counts: exact in float32, summed in float64
    return out


def pair_totals(adjacency: sp.csr_matrix, weights: np.ndarray, block_bytes: int = 1 << 28) -> np.ndarray:
    """[B] sum over every pair of w[a] * w[c] per replicate: diag(W A W^T), as dense float32 matrix products.

    A (pair counts between templates) is densified a block of rows at a time (`block_bytes` each), so the cost is
    2 T^2 B flops of BLAS instead of B gathers per pair; counts stay exact in float32 (sums of small integers
    per row, accumulated in float64 over rows).
    """
    n = adjacency.shape[0]
    w = torch.from_numpy(np.ascontiguousarray(weights.T, dtype=np.float32))  # [T, B]
    rows_per_block = max(1, block_bytes // (4 * n))
    total = torch.zeros(w.shape[1], dtype=torch.float64)
    for start in range(0, n, rows_per_block):
        block = torch.from_numpy(adjacency[start:start + rows_per_block].toarray().astype(np.float32, copy=False))
        total += (w[start:start + rows_per_block] * (block @ w)).sum(dim=0, dtype=torch.float64)
    return total.numpy()


def tar_from_grid(fpr: np.ndarray, tpr: np.ndarray, fars: Sequence[float]) -> np.ndarray:
    """[B, F] TAR at each target FAR from replicate ROCs [B, K] (FPR ascending in K): nearest FPR, last on ties."""
    fpr_rev, tpr_rev = fpr[:, ::-1], tpr[:, ::-1]
    out = np.empty((len(fpr), len(fars)))
    for j, far in enumerate(fars):
        pick = np.argmin(np.abs(fpr_rev - far), axis=1)
        out[:, j] = np.take_along_axis(tpr_rev, pick[:, None], axis=1)[:, 0]
    return out


def ijb_tar_boot(scores_by_run: Mapping[str, np.ndarray], labels: np.ndarray, rows: np.ndarray, n_templates: int,
                 fars: Sequence[float], weights: np.ndarray, block: int = 64) -> dict[str, np.ndarray]:
    """Per run [B, F] TAR@FAR replicates under template resampling (`weights` [B, T], shared by every run).

    `rows` [M, 2] are the pairs' template rows (0..n_templates-1), `labels` [M] 1 genuine / 0 impostor. The
    replicates are processed in blocks of `block`; memory stays O(M) + O(T x block).
    """
    labels = np.asarray(labels).astype(bool)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    adjacency = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows[:, 0], rows[:, 1])),
                              shape=(n_templates, n_templates))
    totals = pair_totals(adjacency, weights)
    del adjacency
    genuine_rows = rows[labels]
    out = {}
    for run, scores in scores_by_run.items():
        scores = np.asarray(scores, dtype=np.float64)
        grid = far_grid(scores[~labels], fars)
        bins = np.searchsorted(-grid, -scores, side="right")  # pairs with score > grid[k] have bin <= k
        top = bins < len(grid)
        imp_rows, imp_bins = rows[top & ~labels], bins[top & ~labels]
        gen_bins = bins[labels]
        tars = []
        for start in range(0, len(weights), block):
            tw = torch.from_numpy(np.ascontiguousarray(weights[start:start + block].T, dtype=np.float32))
            imp = _pair_products(tw, imp_rows, imp_bins, len(grid)).numpy().T  # [b, K]
            gen = _pair_products(tw, genuine_rows, gen_bins, len(grid) + 1).numpy().T
            gen_total = gen.sum(axis=1, keepdims=True)
            imp_total = totals[start:start + block, None] - gen_total
            fpr = np.cumsum(imp, axis=1) / imp_total
            tpr = np.cumsum(gen[:, :-1], axis=1) / gen_total
            tars.append(tar_from_grid(fpr, tpr, fars))
        out[run] = np.concatenate(tars)
    return out


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) percentile bootstrap interval along axis 0 (NaN-aware)."""
    tail = 100.0 * (1.0 - level) / 2.0
    return np.nanpercentile(replicates, tail, axis=0), np.nanpercentile(replicates, 100.0 - tail, axis=0)
