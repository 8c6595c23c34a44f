"""IJB-B / IJB-C 1:N open-set identification, as insightface ``evaluation/IJB/IJB_evals.py`` (``-N``) computes it.

Template features (``run_model_test_1N``): the 1:1 standard mode's image features (N1D1F2: flip summed, faceness
weighted, no per-image norm), mean per media, summed per template, L2-normalised, for the templates each 1:N CSV
chooses; a template's subject id is that of its first row (``image2template_feature`` with ``choose_templates``).

Per gallery (``evaluation_1N``), similarity = probe · galleryᵀ (float64). A probe whose subject is enrolled in the
gallery is *mated*: its label is the first gallery template of its subject; its rank is the label's position in the
row sorted descending (the reference reverses an ascending argsort; on exact ties this reads a stable sort, so a tied
template with a higher column comes first: numpy's default argsort orders ties by CPU); rank-k counts the mated
probes of rank < k; its positive score is the label's similarity, and it is *correct* when that score is above
every template of another subject. A non-mated probe contributes its maximum similarity; those maxima sorted
descending give the threshold at FPIR f at index max(int(n·f) − 1, 0) (the reference's line; the commented-out
``ceil`` variant is not what it runs), and a mated probe is a hit when correct and its positive score is above the
threshold. TPIR = hits / mated probes. An FPIR below 1 / (non-mated probes) is not measurable (int(n·f) = 0: the
reference then reads the largest non-mated score): it is None here, "—" on the pages.

Both galleries: rank-k = (G1 count + G2 count) / probe templates; TPIR = the mean of the two galleries' TPIR. The
curve is read on the reference's grid (``fpir_grid``: 100 log-spaced FPIRs from 1e-4, then 1).

A gallery holding no mated or no non-mated probe is an error here (the reference fails on an empty array there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from x2softmax.data.ijb import IDENTIFICATION_FILES, load_identification_lists, meta_paths
from x2softmax.vocabulary import FPIRS, RANKS

CMC_RANKS = 20  # the CMC curve's ranks 1..20 (fewer for a smaller gallery)
_BLOCK_ELEMENTS = 1 << 23  # probes x gallery templates of one float64 similarity block (64 MiB)


@dataclass
class GallerySearch:
    """Per probe, its search of one gallery: mated (subject enrolled), rank of the label (-1 if not mated), the
    label's similarity (NaN if not mated) and the best similarity of another subject's template (for a non-mated
    probe: its maximum similarity; -inf for a gallery of its subject only)."""

    mated: np.ndarray  # bool [P]
    rank: np.ndarray  # int64 [P]
    positive: np.ndarray  # float64 [P]
    best_other: np.ndarray  # float64 [P]


SEARCH_FIELDS = tuple(f.name for f in fields(GallerySearch))


def fpir_grid(npoints: int = 100) -> np.ndarray:
    """The reference's FPIR grid: 10**x for x in arange(-4, 0, 4 / npoints), then 1."""
    return np.array([10 ** x for x in np.arange(-4, 0, 4 / npoints)] + [1.0])


def choose_templates(template_ids: np.ndarray, subject_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique template ids, each one's subject id from its first row) of a 1:N CSV's rows."""
    templates, first = np.unique(np.asarray(template_ids), return_index=True)
    return templates, np.asarray(subject_ids)[first]


def select_templates(templates: np.ndarray, feats: np.ndarray, template_ids: np.ndarray, subject_ids: np.ndarray,
                     name: str = "1:N list") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chosen template ids, their subject ids, their features) of a 1:N CSV's rows, taken from the pooled template
    features of every template (`templates` sorted, as template_features returns them); error on unknown ids."""
    chosen, subjects = choose_templates(template_ids, subject_ids)
    templates = np.asarray(templates)
    if not len(templates):
        raise ValueError(f"{name}: no template has features")
    rows = np.searchsorted(templates, chosen).clip(0, len(templates) - 1)
    unknown = templates[rows] != chosen
    if unknown.any():
        raise ValueError(f"{name}: {int(unknown.sum())} templates have no images in the media list, e.g. "
                         f"{chosen[unknown][:5].tolist()}")
    return chosen, subjects, np.asarray(feats)[rows]


def search_gallery(probe_feats: np.ndarray, probe_ids: np.ndarray, gallery_feats: np.ndarray,
                   gallery_ids: np.ndarray) -> GallerySearch:
    """Search every probe template against one gallery (module docstring); float64 similarities, in blocks."""
    probe_feats = np.asarray(probe_feats, dtype=np.float64)
    gallery_feats = np.asarray(gallery_feats, dtype=np.float64)
    probe_ids, gallery_ids = np.asarray(probe_ids), np.asarray(gallery_ids)
    if probe_feats.ndim != 2 or gallery_feats.ndim != 2 or probe_feats.shape[1] != gallery_feats.shape[1] \
            or len(probe_ids) != len(probe_feats) or len(gallery_ids) != len(gallery_feats) or not len(gallery_ids):
        raise ValueError(f"1:N search needs probe [P, D] and gallery [G, D] features with their subject ids; got "
                         f"{probe_feats.shape}, {gallery_feats.shape}, {probe_ids.shape}, {gallery_ids.shape}")
    subjects, first = np.unique(gallery_ids, return_index=True)
    at = np.searchsorted(subjects, probe_ids).clip(0, len(subjects) - 1)
    mated = subjects[at] == probe_ids
    label = np.where(mated, first[at], -1)
    n = len(probe_ids)
    rank = np.full(n, -1, dtype=np.int64)
    positive = np.full(n, np.nan)
    best_other = np.empty(n)
    columns = np.arange(len(gallery_ids))
    step = max(1, _BLOCK_ELEMENTS // len(gallery_ids))
    for start in range(0, n, step):
        stop = min(n, start + step)
        sim = np.dot(probe_feats[start:stop], gallery_feats.T)
        same = gallery_ids[None, :] == probe_ids[start:stop, None]
        best_other[start:stop] = np.where(same, -np.inf, sim).max(axis=1)
        rows = np.flatnonzero(mated[start:stop])
        if len(rows):
            lab = label[start:stop][rows]
            pos = sim[rows, lab]
            block = sim[rows]
            ahead = (block > pos[:, None]).sum(axis=1) + ((block == pos[:, None]) & (columns > lab[:, None])).sum(axis=1)
            rank[start + rows] = ahead
            positive[start + rows] = pos
    return GallerySearch(mated=mated, rank=rank, positive=positive, best_other=best_other)


def _check_search(search: GallerySearch, name: str) -> None:
    if not search.mated.any():
        raise ValueError(f"1:N gallery {name}: no probe's subject is enrolled in it (no mated search)")
    if search.mated.all():
        raise ValueError(f"1:N gallery {name}: every probe's subject is enrolled in it (no non-mated search to set "
                         "a threshold)")


def non_mated_scores(search: GallerySearch) -> np.ndarray:
    """The non-mated probes' maximum similarities, sorted descending (the thresholds' list)."""
    return np.sort(search.best_other[~search.mated])[::-1]


def tpir_at(search: GallerySearch, fpirs: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(TPIR, threshold, measurable) at each FPIR for one gallery, by the reference's threshold rule."""
    scores = non_mated_scores(search)
    n = len(scores)
    index = np.array([int(n * float(f)) - 1 for f in fpirs])
    thresholds = scores[np.maximum(index, 0)]
    correct = search.positive[search.mated] > search.best_other[search.mated]
    positive = search.positive[search.mated]
    hits = np.array([np.count_nonzero(correct & (positive > t)) for t in thresholds])
    return hits / int(search.mated.sum()), thresholds, index >= 0


def rank_counts(search: GallerySearch, ranks: Sequence[int]) -> np.ndarray:
    """Mated probes whose label ranks within the top k, for each k."""
    return np.array([np.count_nonzero(search.mated & (search.rank < k)) for k in ranks])


def identification(probe_feats: np.ndarray, probe_ids: np.ndarray, galleries: Sequence[tuple[np.ndarray, np.ndarray]],
                   fpirs: Sequence[float] = FPIRS, ranks: Sequence[int] = RANKS,
                   names: Sequence[str] = ("G1", "G2")) -> dict:
    """1:N results of the probes against each gallery (features, subject ids) and combined (module docstring)."""
    searches = [search_gallery(probe_feats, probe_ids, feats, ids) for feats, ids in galleries]
    for search, name in zip(searches, names):
        _check_search(search, name)
    n_probes = len(probe_ids)
    smallest = min(len(ids) for _, ids in galleries)
    cmc = list(range(1, min(CMC_RANKS, smallest) + 1))
    grid = fpir_grid()
    at_fpirs = [tpir_at(s, fpirs) for s in searches]
    at_grid = [tpir_at(s, grid) for s in searches]
    per_gallery = {
        name: {"mated": int(search.mated.sum()), "non_mated": int((~search.mated).sum()),
               "rank_counts": dict(zip(map(str, ranks), rank_counts(search, ranks).tolist())),
               "tpir": tpir.tolist(), "threshold": thresholds.tolist(), "measurable": ok.tolist()}
        for search, name, (tpir, thresholds, ok) in zip(searches, names, at_fpirs)
    }
    combined_ranks = sum(rank_counts(s, ranks) for s in searches) / n_probes
    tpirs = np.mean([tpir for tpir, _, _ in at_fpirs], axis=0)
    measurable = np.logical_and.reduce([ok for _, _, ok in at_fpirs])
    curve = np.mean([tpir for tpir, _, _ in at_grid], axis=0)
    curve_ok = np.logical_and.reduce([ok for _, _, ok in at_grid])
    return {
        "probes": n_probes, "fpirs": [float(f) for f in fpirs], "ranks": list(ranks),
        "rank_rate": dict(zip(map(str, ranks), combined_ranks.tolist())),
        "tpir": [float(v) if ok else None for v, ok in zip(tpirs, measurable)],  # None: not measurable
        "lowest_measurable_fpir": max(1.0 / per_gallery[name]["non_mated"] for name in names),
        "cmc": {"rank": cmc, "rate": (sum(rank_counts(s, cmc) for s in searches) / n_probes).tolist()},
        "curve": {"fpir": grid[curve_ok].tolist(), "tpir": curve[curve_ok].tolist()},
        "galleries": per_gallery, "searches": dict(zip(names, searches)),
    }


def not_measurable_reason(fpir: float, non_mated: int) -> str:
    """Why `fpir` cannot be measured with `non_mated` non-mated searches (the note of a missing cell)."""
    return f"not measurable: FPIR {fpir:.0e} < 1/{non_mated} non-mated probes ({1.0 / non_mated:.2e})"


def evaluate_identification(root: Path, suite: str, templates: np.ndarray, feats: np.ndarray
                            ) -> tuple[dict, dict[str, np.ndarray]]:
    """1:N results of a suite from the pooled N1D1F2 template features of every template (`templates` sorted), and
    the arrays to re-check them from outside (each list's template ids, subject ids and features; per gallery and
    probe: mated, rank, positive score, best score of another subject)."""
    paths = meta_paths(Path(root), suite)
    lists = load_identification_lists(Path(root), suite, templates)
    chosen = {key: select_templates(templates, feats, *getattr(lists, key), name=str(paths[key]))
              for key in IDENTIFICATION_FILES}
    probe_ids, probe_subjects, probe_feats = chosen["probe"]
    names = {key: paths[key].stem.rsplit("_", 1)[1] for key in IDENTIFICATION_FILES[:2]}  # G1, G2 / S1, S2
    result = identification(probe_feats, probe_subjects,
                            [(chosen[key][2], chosen[key][1]) for key in names], names=list(names.values()))
    arrays: dict[str, np.ndarray] = {}
    for key, (ids, subjects, features) in chosen.items():
        arrays.update({f"{key}/templates": ids, f"{key}/subjects": subjects,
                       f"{key}/features": np.asarray(features, dtype=np.float32)})
    for key, name in names.items():
        search = result["searches"].pop(name)
        arrays.update({f"{key}/{field}": getattr(search, field) for field in SEARCH_FIELDS})
    del result["searches"]
    result["gallery_names"] = names
    return result, arrays


def search_from_arrays(arrays: dict[str, np.ndarray], gallery: str) -> GallerySearch:
    """The GallerySearch of `gallery` ("gallery_1" / "gallery_2") from what evaluate_identification saved."""
    return GallerySearch(**{field: np.asarray(arrays[f"{gallery}/{field}"]) for field in SEARCH_FIELDS})
