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
  The weighted counts need no per-pair gather of both weights: the pairs of each bin are grouped
  by their first template a (`bin_pairs`), so a bin's count is sum_a w[a] * (G @ w)[a, bin] with G the sparse
  matrix of pair counts from each (bin, a) group to second templates; one sparse product per block of replicates
  covers every bin (and, with a single bin, the total over all pairs). Integer-exact: float32 row sums while
  (largest pair count) x (number of templates) < 2^24, else float64; products and bin sums likewise in float32
  while (most pairs of a bin) x (largest weight)^2 < 2^24, else float64.
- IJB 1:N: the unit is the probe template (`identification_boot`); the galleries stay fixed. A replicate is the
  reference rule on the probe set with each probe repeated as drawn: rank-k over the drawn probes, the threshold
  read on the drawn non-mated maxima (index max(int(n f) - 1, 0) of the expanded descending list), TPIR over the
  drawn mated probes (tests/evaluate/test_eval_bootstrap.py against the expanded reference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from x2softmax.evaluate.identification import GallerySearch
from x2softmax.evaluate.curves import tar_on_rocs
from x2softmax.evaluate.verification import ACCURACY_THRESHOLDS, N_FOLDS, fold_cells, fold_sizes

EXACT_RANKS = 64  # impostor ranks read exactly on the IJB grid
GRID_STEPS = 16  # grid points per factor of 2 in FAR around each target
GRID_SPAN = 8  # grid points on each side of each target: a factor of 2^(8/16) = 1.41 either way


def _draw_counts(n_items: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n_boot, n_items] int64 draw counts of n_items uniform draws with replacement (one bincount)."""
    draws = rng.integers(0, n_items, size=(n_boot, n_items)) + (np.arange(n_boot) * n_items)[:, None]
    return np.bincount(draws.ravel(), minlength=n_boot * n_items).reshape(n_boot, n_items)


def resample_counts(n_items: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n_boot, n_items] int32 draw counts of n_items draws with replacement: a multinomial with equal
    probabilities, counted from uniform draws (one bincount; rng.multinomial takes ten times longer)."""
    return _draw_counts(n_items, n_boot, rng).astype(np.int32)


def fold_stratified_weights(n_pairs: int, n_boot: int, rng: np.random.Generator,
                            n_folds: int = N_FOLDS) -> np.ndarray:
    """[n_boot, n_pairs] int32 draw counts: pairs resampled with replacement within each contiguous fold (each
    fold's `resample_counts`, in fold order, written into one array)."""
    out = np.empty((n_boot, n_pairs), dtype=np.int32)
    start = 0
    for size in fold_sizes(n_pairs, n_folds):
        out[:, start:start + size] = _draw_counts(int(size), n_boot, rng)
        start += size
    return out


def template_weights(n_templates: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n_boot, n_templates] int32 draw counts: templates resampled with replacement."""
    return resample_counts(n_templates, n_boot, rng)


class TenFoldWeights(NamedTuple):
    """One verification key's weights as the 10-fold bootstrap reads them: [P, B] contiguous, replicates along the
    last axis, float32 (exact counts below 2^24 pairs, float64 above); shared by every run of the key."""

    columns: np.ndarray


class OracleWeights(NamedTuple):
    """One verification key's weights as the oracle bootstrap reads them, shared by every run of the key: `signed`
    [B, P] draw counts in pair order, impostors positive and genuine pairs negative (int16 while every replicate
    draws fewer than 2^15 pairs, else int64); per replicate the pairs drawn (int64) and the genuine pairs drawn."""

    signed: np.ndarray
    drawn: np.ndarray
    genuine: np.ndarray


def ten_fold_weights(weights: np.ndarray) -> TenFoldWeights:
    """The 10-fold form of [B, P] draw counts (`TenFoldWeights`)."""
    weights = np.asarray(weights)
    dtype = np.float32 if weights.shape[1] < 2 ** 24 else np.float64
    return TenFoldWeights(np.ascontiguousarray(weights.T, dtype=dtype))


def oracle_weights(weights: np.ndarray, issame: np.ndarray) -> OracleWeights:
    """The oracle form of [B, P] draw counts of the pairs labelled `issame` (`OracleWeights`)."""
    issame = np.asarray(issame, dtype=bool)
    weights = np.asarray(weights)
    drawn = weights.sum(axis=1, dtype=np.int64)
    dtype = np.int16 if drawn.max(initial=0) < np.iinfo(np.int16).max else np.int64
    signed = weights.astype(dtype)
    np.multiply(signed, np.where(issame, -1, 1).astype(dtype), out=signed)
    genuine = (drawn - signed.sum(axis=1, dtype=np.int64)) // 2  # signed sum: impostors - genuine pairs drawn
    return OracleWeights(signed, drawn, genuine.astype(dtype))


def protocol_weights(weights: np.ndarray, issame: np.ndarray, protocol: str) -> TenFoldWeights | OracleWeights:
    """[B, P] draw counts in the form `verification_boot` reads for a protocol: compute once per key, for every run."""
    return ten_fold_weights(weights) if protocol == "10fold" else oracle_weights(weights, issame)


def ten_fold_accuracy_boot(dist: np.ndarray, issame: np.ndarray, weights: np.ndarray | TenFoldWeights,
                           thresholds: np.ndarray = ACCURACY_THRESHOLDS) -> np.ndarray:
    """[B] mean held-out accuracy of the 10-fold protocol (threshold chosen per fold on the others) per replicate.

    The weight of each (fold, label, threshold cell) is one sparse product with the replicates along the last
    axis (`weights` [B, P] draw counts, or their `ten_fold_weights`); counts are integers, exact in float32 below
    2^24 pairs (float64 above).
    """
    issame = np.asarray(issame, dtype=bool)
    columns = (weights if isinstance(weights, TenFoldWeights) else ten_fold_weights(weights)).columns
    sizes = fold_sizes(len(dist))
    n_thr = len(thresholds)
    cells = fold_cells(dist, issame, thresholds)
    n = len(cells)
    onehot = sp.csr_matrix((np.ones(n, columns.dtype), (cells, np.arange(n))), shape=(N_FOLDS * 2 * (n_thr + 1), n))
    hist = (onehot @ columns).reshape(N_FOLDS, 2, n_thr + 1, -1)
    below = np.cumsum(hist, axis=2)[:, :, :n_thr]  # [F, label, T, B] weight with dist < thr
    n_diff = hist[:, 0].sum(axis=1)  # [F, B]
    correct = below[:, 1] + (n_diff[:, None] - below[:, 0])  # [F, T, B]
    train_correct = correct.sum(axis=0, keepdims=True) - correct
    best = np.argmax(train_correct, axis=1)  # first maximum; train sizes are fixed per fold
    chosen = np.take_along_axis(correct, best[:, None], axis=1)[:, 0]  # [F, B]
    return np.mean(np.ascontiguousarray((chosen / sizes[:, None]).T), axis=1)


def oracle_accuracy_boot(cos: np.ndarray, issame: np.ndarray, weights: np.ndarray | OracleWeights) -> np.ndarray:
    """[B] best accuracy over thresholds taken from the resampled pairs' own cosines (same if cos > thr).

    Pairs sorted by cosine once; per replicate, one cumulative sum of signed draw counts (impostors +1, genuine
    pairs -1) read at the last pair of each run of equal cosines, plus the genuine pairs drawn, gives the impostors
    at or below and the genuine pairs above each candidate threshold. A cosine none of whose pairs was drawn is no
    candidate: above the lowest drawn cosine it ties its predecessor's count, below it it is excluded.
    Integer-exact: int16 counts while every replicate draws fewer than 2^15 pairs (LFW-size sets: a quarter of
    int64's memory traffic), else int64. `weights`: [B, P] draw counts, or their `oracle_weights`.
    """
    cos = np.asarray(cos, dtype=np.float64)
    prepared = weights if isinstance(weights, OracleWeights) else oracle_weights(weights, issame)
    order = np.argsort(cos, kind="stable")
    ends = np.flatnonzero(np.r_[np.diff(cos[order]) != 0, True])  # last sorted index of each distinct cosine
    signed = np.take(prepared.signed, order, axis=1)  # [B, P] signed draw counts in cosine order
    first = np.argmax(signed != 0, axis=1)  # sorted index of the lowest drawn cosine
    run = np.cumsum(signed, axis=1, dtype=signed.dtype, out=signed)  # impostors - genuine pairs at or below
    if len(ends) < len(cos):
        run = np.take(run, ends, axis=1)
    correct = np.add(run, prepared.genuine[:, None], out=run)  # impostors at or below + genuine pairs above
    correct[ends[None, :] < first[:, None]] = -1  # no candidate below the lowest drawn cosine
    return correct.max(axis=1) / prepared.drawn


def verification_boot(scores: np.ndarray, issame: np.ndarray, protocol: str,
                      weights: np.ndarray | TenFoldWeights | OracleWeights) -> np.ndarray:
    """[B] accuracy replicates of one protocol: squared L2 distances for "10fold", cosines for the oracles
    (`weights`: [B, P] draw counts, or their `protocol_weights` for the protocol)."""
    if protocol == "10fold":
        return ten_fold_accuracy_boot(scores, issame, weights)
    return oracle_accuracy_boot(scores, issame, weights)


def far_grid(impostor_scores: np.ndarray, fars: Sequence[float]) -> np.ndarray:
    """Descending thresholds t where a replicate's ROC is read as (FAR, TAR) of the pairs scoring > t.

    t is the impostor score of rank r + 1 for r false accepts, so each point is the top of its ROC step (the
    highest TAR with r false accepts, as the reference's flipud reading): r = 0..EXACT_RANKS and r = far x n x
    2^(i / GRID_STEPS), |i| <= GRID_SPAN, around each target FAR.
    """
    scores = np.asarray(impostor_scores, dtype=np.float64)
    n = len(scores)
    steps = 2.0 ** (np.arange(-GRID_SPAN, GRID_SPAN + 1) / GRID_STEPS)
    ranks = np.concatenate([np.arange(EXACT_RANKS + 1)] + [np.ceil(far * n * steps) for far in fars])
    ranks = np.unique(ranks.clip(0, n - 1).astype(np.int64))
    ordered = -np.sort(np.partition(-scores, ranks[-1])[:ranks[-1] + 1])  # the highest scores, descending
    return np.unique(ordered[ranks])[::-1]


ROW_CHUNK = 1 << 18  # groups of pairs per sparse product (float32 rows of a replicate block)


class BinnedPairs(NamedTuple):
    """Pairs grouped by (bin, first template): one sparse row per group, the second templates as its columns.

    `chunks` are row blocks of the group-by-template count matrix G; `template[g]` and `bin[g]` name group g
    (groups sorted by bin, then template); `n_bins` bins in all; `load[i]` the most pairs one bin has in chunk i.
    """

    chunks: list[sp.csr_matrix]
    template: np.ndarray
    bin: np.ndarray
    n_bins: int
    load: list[int]


def bin_pairs(rows: np.ndarray, bins: np.ndarray, n_bins: int, n_templates: int) -> BinnedPairs:
    """Group the pairs (template rows [M, 2], bin [M] in 0..n_bins-1) by (bin, first template)."""
    key = np.asarray(bins, dtype=np.int64) * n_templates + rows[:, 0]
    present = np.bincount(key, minlength=n_bins * n_templates) > 0  # no sort: keys are < n_bins x n_templates
    groups = np.flatnonzero(present)
    group_of = (np.cumsum(present) - 1)[key]
    counts = sp.csr_matrix((np.ones(len(rows), dtype=np.float64), (group_of, rows[:, 1])),
                           shape=(len(groups), n_templates))
    # float32 row sums of draw counts are exact while (largest pair count) x (total draws = n_templates) < 2^24
    dtype = np.float32 if counts.nnz == 0 or counts.data.max() * n_templates < 2 ** 24 else np.float64
    counts = counts.astype(dtype)
    chunks = [counts[start:start + ROW_CHUNK] for start in range(0, len(groups), ROW_CHUNK)]
    group_bin = groups // n_templates
    load = [int(np.bincount(group_bin[start:start + ROW_CHUNK], weights=np.diff(chunk.indptr)).max())
            for start, chunk in zip(range(0, len(groups), ROW_CHUNK), chunks)]
    return BinnedPairs(chunks, groups % n_templates, group_bin, n_bins, load)


def binned_sums(pairs: BinnedPairs, weights_t: np.ndarray) -> np.ndarray:
    """[n_bins, B] per bin the sum over its pairs of w[a] * w[c] (weights_t [T, B]: template draw counts).

    Per group, G @ W sums w[c] over the group's pairs in one sparse product; times w[a] and summed per bin, the
    result is exact: in float32 where a chunk's bin sums stay below 2^24 ((most pairs in a bin) x (largest
    weight)^2), else in float64.
    """
    out = np.zeros((pairs.n_bins, weights_t.shape[1]))
    largest = float(weights_t.max(initial=0))
    start = 0
    for chunk, load in zip(pairs.chunks, pairs.load):
        stop = start + chunk.shape[0]
        weights = weights_t.astype(chunk.dtype, copy=False)
        exact32 = chunk.dtype == np.float32 and load * largest ** 2 < 2 ** 24
        partial = (chunk @ weights).astype(np.float32 if exact32 else np.float64, copy=False)
        partial *= weights[pairs.template[start:stop]]
        bins = pairs.bin[start:stop]
        first = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
        out[bins[first]] += np.add.reduceat(partial, first, axis=0)
        start = stop
    return out


def ijb_tar_boot(scores_by_run: Mapping[str, np.ndarray], labels: np.ndarray, rows: np.ndarray, n_templates: int,
                 fars: Sequence[float], weights: np.ndarray, block: int = 64,
                 grids: Mapping[str, np.ndarray] | None = None, pool: Executor | None = None
                 ) -> dict[str, np.ndarray]:
    """Per run [B, F] TAR@FAR replicates under template resampling (`weights` [B, T], shared by every run).

    `rows` [M, 2] are the pairs' template rows (0..n_templates-1), `labels` [M] 1 genuine / 0 impostor. The
    replicates are processed in blocks of `block`; memory stays O(M) + O(ROW_CHUNK x block) per block in progress.
    `grids` (run -> `far_grid` of its impostor scores) saves recomputing them. With a thread `pool` the runs' pairs
    are binned and the blocks computed on its threads (scipy's sparse products release the GIL); the same numbers.
    """
    labels = np.asarray(labels).astype(bool)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    mapped = pool.map if pool is not None else map

    def binned_run(run: str) -> tuple[BinnedPairs, BinnedPairs]:
        scores = np.asarray(scores_by_run[run], dtype=np.float64)
        grid = grids[run] if grids is not None else far_grid(scores[~labels], fars)
        bins = np.searchsorted(-grid, -scores, side="right")  # pairs with score > grid[k] have bin <= k
        top = (bins < len(grid)) & ~labels
        return (bin_pairs(rows[top], bins[top], len(grid), n_templates),
                bin_pairs(rows[labels], bins[labels], len(grid) + 1, n_templates))

    every_pair = bin_pairs(rows, np.zeros(len(rows), dtype=np.int64), 1, n_templates)
    binned = dict(zip(scores_by_run, mapped(binned_run, list(scores_by_run))))

    def block_tars(start: int) -> list[np.ndarray]:
        weights_t = np.ascontiguousarray(weights[start:start + block].T, dtype=np.float32)  # [T, b]
        total = binned_sums(every_pair, weights_t)[0]
        out = []
        for impostor, genuine in binned.values():
            imp = binned_sums(impostor, weights_t).T  # [b, K]
            gen = binned_sums(genuine, weights_t).T  # [b, K + 1]
            gen_total = gen.sum(axis=1, keepdims=True)
            fpr = np.cumsum(imp, axis=1) / (total[:, None] - gen_total)
            tpr = np.cumsum(gen[:, :-1], axis=1) / gen_total
            out.append(tar_on_rocs(fpr, tpr, fars))
        return out

    blocks = list(mapped(block_tars, range(0, len(weights), block)))  # in block order
    return {run: np.concatenate([parts[i] for parts in blocks]) for i, run in enumerate(binned)}


def ijb_tar_pair_boot(scores_by_run: Mapping[str, np.ndarray], labels: np.ndarray, fars: Sequence[float],
                      n_boot: int, rng: np.random.Generator, block: int = 64,
                      grids: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Per run [B, F] TAR@FAR replicates of the pair bootstrap: every pair an independent Poisson(1) weight, the same
    for every run given (read on each run's `far_grid`, as `ijb_tar_boot`).

    Pairs with the same label and the same grid bin in every run are one cell whose total weight is Poisson(its
    count), so the cost is O(cells x B), not O(pairs x B): give one run (its own variance) or two (a difference).
    `grids` (run -> `far_grid` of its impostor scores) saves recomputing them.
    """
    labels = np.asarray(labels).astype(bool)
    grids = {run: grids[run] if grids is not None else far_grid(np.asarray(scores)[~labels], fars)
             for run, scores in scores_by_run.items()}
    high = {run: np.asarray(scores) > grids[run][-1] for run, scores in scores_by_run.items()}
    # Impostor pairs below every run's grid are one cell, counted without a key; the others get a mixed-radix key.
    keyed = np.flatnonzero(labels | np.logical_or.reduce(list(high.values())))
    key = labels[keyed].astype(np.int64)
    rest = 0
    radix, bins_of = 2, {}
    for run, scores in scores_by_run.items():
        grid = grids[run]
        bins = np.full(len(keyed), len(grid), dtype=np.int64)  # below the grid (impostors) / the rest (genuine)
        top = high[run][keyed]
        bins[top] = np.searchsorted(-grid, -np.asarray(scores, dtype=np.float64)[keyed[top]], side="right")
        bins_of[run] = len(grid)
        radix *= len(grid) + 1
        if radix >= 2 ** 62:
            raise ValueError(f"ijb_tar_pair_boot: too many runs at once ({len(scores_by_run)}); give one or two")
        key = key * (len(grid) + 1) + bins
        rest = rest * (len(grid) + 1) + len(grid)
    cells, counts = np.unique(key, return_counts=True)
    n_rest = len(labels) - len(keyed)
    if n_rest:
        cells, counts = np.append(cells, rest), np.append(counts, n_rest)
    cell_bins = {}
    code = cells.copy()
    for run in reversed(list(scores_by_run)):  # decode the mixed-radix key, last run first
        code, cell_bins[run] = np.divmod(code, bins_of[run] + 1)
    genuine = code.astype(bool)
    tars: dict[str, list[np.ndarray]] = {run: [] for run in scores_by_run}
    onehot = {run: sp.csr_matrix((np.ones(len(cells)), (np.arange(len(cells)), cell_bins[run] + genuine * (k + 1))),
                                 shape=(len(cells), 2 * (k + 1))) for run, k in bins_of.items()}
    for start in range(0, n_boot, block):
        draws = rng.poisson(counts, size=(min(block, n_boot - start), len(cells))).astype(np.float64)
        for run, k in bins_of.items():
            sums = np.asarray((onehot[run].T @ draws.T).T)  # [b, 2 (K + 1)]: impostor bins, then genuine bins
            imp, gen = sums[:, :k + 1], sums[:, k + 1:]
            with np.errstate(invalid="ignore", divide="ignore"):
                fpr = np.cumsum(imp[:, :-1], axis=1) / imp.sum(axis=1, keepdims=True)
                tpr = np.cumsum(gen[:, :-1], axis=1) / gen.sum(axis=1, keepdims=True)
            tars[run].append(tar_on_rocs(fpr, tpr, fars))
    return {run: np.concatenate(parts) for run, parts in tars.items()}


def crossed_design_correction(template_reps: np.ndarray, pair_reps: np.ndarray) -> np.ndarray:
    """Template-bootstrap replicates [B, ...] shrunk toward their median so that their variance (per column) is
    max(V_template - 2 V_pair, V_pair), V_pair that of the pair bootstrap `pair_reps` (docs/architecture.md).

    With a pair counted w(a) w(b) times, each pair's own noise enters the template bootstrap's variance three times
    (once through each template, once through the product of the two draws), the true variance once; the shared-
    template covariances once in both. Subtracting twice the pair-bootstrap variance leaves the dyadic-robust
    variance (pairs sharing a template covary, others do not); it is never taken below the pair bootstrap's own.
    """
    reps = np.asarray(template_reps, dtype=np.float64)
    v_template = np.nanvar(reps, axis=0)
    v_pair = np.nanvar(np.asarray(pair_reps, dtype=np.float64), axis=0)
    target = np.maximum(v_template - 2.0 * v_pair, v_pair)
    scale = np.sqrt(np.divide(target, v_template, out=np.ones_like(v_template), where=v_template > 0))
    center = np.nanmedian(reps, axis=0)
    return center + scale * (reps - center)


def ijb_replicates(scores_by_run: Mapping[str, np.ndarray], labels: np.ndarray, rows: np.ndarray, n_templates: int,
                   fars: Sequence[float], n_boot: int, rng: np.random.Generator, pair_rng: np.random.Generator,
                   comparisons: Sequence[tuple[str, str]] = (), pool: Executor | None = None
                   ) -> tuple[dict[str, np.ndarray], dict[tuple[str, str], np.ndarray]]:
    """Calibrated TAR@FAR replicates [B, F]: per run, and per compared pair of runs (a, b) of a - b.

    One template resample (`template_weights` from `rng`) shared by every run, corrected for the crossed pair
    design (`crossed_design_correction`) by the pair bootstrap of the same run or difference (from `pair_rng`).
    With a thread `pool` the template bootstrap runs on its threads (`ijb_tar_boot`) while this thread draws and
    computes the pair bootstraps (in the same order from `pair_rng`).
    """
    weights = template_weights(n_templates, n_boot, rng)
    impostors = ~np.asarray(labels).astype(bool)
    grids = {run: far_grid(np.asarray(scores)[impostors], fars) for run, scores in scores_by_run.items()}
    if pool is None:
        raw = ijb_tar_boot(scores_by_run, labels, rows, n_templates, fars, weights, grids=grids)
        pair_reps, pair_diffs = _pair_boots(scores_by_run, labels, fars, n_boot, pair_rng, grids, comparisons)
    else:
        with ThreadPoolExecutor(1) as side:  # a thread that waits on the pool's blocks
            template_boot = side.submit(ijb_tar_boot, scores_by_run, labels, rows, n_templates, fars, weights,
                                        grids=grids, pool=pool)
            pair_reps, pair_diffs = _pair_boots(scores_by_run, labels, fars, n_boot, pair_rng, grids, comparisons)
            raw = template_boot.result()
    per_run = {run: crossed_design_correction(raw[run], pair_reps[run]) for run in scores_by_run}
    diffs = {(a, b): crossed_design_correction(raw[a] - raw[b], pair_diffs[(a, b)]) for a, b in comparisons}
    return per_run, diffs


def _pair_boots(scores_by_run: Mapping[str, np.ndarray], labels: np.ndarray, fars: Sequence[float], n_boot: int,
                pair_rng: np.random.Generator, grids: Mapping[str, np.ndarray], comparisons: Sequence[tuple[str, str]]
                ) -> tuple[dict[str, np.ndarray], dict[tuple[str, str], np.ndarray]]:
    """The pair bootstrap [B, F] of each run, then of each compared difference a - b, drawn in that order."""
    per_run = {run: ijb_tar_pair_boot({run: scores}, labels, fars, n_boot, pair_rng, grids=grids)[run]
               for run, scores in scores_by_run.items()}
    diffs = {}
    for a, b in comparisons:
        pair = ijb_tar_pair_boot({"a": scores_by_run[a], "b": scores_by_run[b]}, labels, fars, n_boot, pair_rng,
                                 grids={"a": grids[a], "b": grids[b]})
        diffs[(a, b)] = pair["a"] - pair["b"]
    return per_run, diffs


def identification_boot(searches: Sequence[GallerySearch], n_probes: int, weights: np.ndarray,
                        fpirs: Sequence[float], ranks: Sequence[int]) -> dict[str, np.ndarray]:
    """[B] replicates of the 1:N rates (fractions) under probe-template resampling (`weights` [B, P], shared by
    every run): "rank_{k}" and "tpir_{i}" (the i-th FPIR), each replicate the reference rule on the probe set with
    every probe repeated as often as drawn (x2softmax.evaluate.identification); NaN where a replicate draws no
    mated or no non-mated probe of a gallery."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape[1] != n_probes:
        raise ValueError(f"identification_boot: weights for {w.shape[1]} probes, the searches have {n_probes}")
    total = w.sum(axis=1)
    out = {f"rank_{k}": w @ sum((s.mated & (s.rank < k)).astype(np.float64) for s in searches) / total
           for k in ranks}
    tpirs = []
    for search in searches:
        non_mated = np.flatnonzero(~search.mated)
        order = np.argsort(-search.best_other[non_mated], kind="stable")
        descending = search.best_other[non_mated][order]
        drawn = np.cumsum(w[:, non_mated[order]], axis=1)  # [B, n]: draws at or above each sorted score
        n_drawn = drawn[:, -1]
        mated = np.flatnonzero(search.mated)
        correct = mated[search.positive[mated] > search.best_other[mated]]
        ascending = np.argsort(search.positive[correct], kind="stable")
        positive = search.positive[correct][ascending]
        above = np.concatenate([np.cumsum(w[:, correct[ascending]][:, ::-1], axis=1)[:, ::-1],
                                np.zeros((len(w), 1))], axis=1)  # [B, c + 1]: draws of positives from j up
        mated_drawn = w[:, mated].sum(axis=1)
        per_fpir = []
        for fpir in fpirs:
            index = np.maximum(np.floor(n_drawn * float(fpir)) - 1, 0)  # the reference's max(int(n f) - 1, 0)
            position = np.minimum((drawn <= index[:, None]).sum(axis=1), len(descending) - 1)
            threshold = descending[position]
            count = np.searchsorted(positive, threshold, side="right")  # positives <= threshold: no hit
            hits = np.take_along_axis(above, count[:, None], axis=1)[:, 0]
            with np.errstate(invalid="ignore", divide="ignore"):
                per_fpir.append(np.where((n_drawn > 0) & (mated_drawn > 0), hits / mated_drawn, np.nan))
        tpirs.append(per_fpir)
    for i in range(len(fpirs)):
        out[f"tpir_{i}"] = np.mean([per_fpir[i] for per_fpir in tpirs], axis=0)
    return out


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) percentile bootstrap interval along axis 0 (NaN-aware)."""
    tail = 100.0 * (1.0 - level) / 2.0
    return np.nanpercentile(replicates, tail, axis=0), np.nanpercentile(replicates, 100.0 - tail, axis=0)
