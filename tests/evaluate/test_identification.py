"""IJB 1:N identification equals the transcription of insightface's evaluation_1N / run_model_test_1N
(tests/oracles/reference_identification.py): integer counts exactly, TPIR to 1e-12, ties and edge cases included."""

from __future__ import annotations

import numpy as np
import pytest

from x2softmax.evaluate.bootstrap import identification_boot, resample_counts
from x2softmax.evaluate.identification import (
    choose_templates, fpir_grid, identification, not_measurable_reason, select_templates,
)
from x2softmax.evaluate.ijb import template_features
from x2softmax.vocabulary import FPIRS, RANKS
from reference_identification import image2template_feature_1n, run_1n


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _population(rng: np.random.Generator, n_subjects: int = 60, dim: int = 16, noise: float = 0.9,
                per_gallery: int = 1, both: int = 0, neither: int = 6, probes_per: int = 3):
    """Subjects split into two galleries (`per_gallery` templates each), `both` subjects enrolled in both, `neither`
    probe subjects in no gallery; probes are noisy copies of their subject's centre."""
    centres = _unit(rng.normal(size=(n_subjects + neither, dim)))
    enrolled = np.arange(n_subjects)
    g1_subjects = enrolled[: n_subjects // 2]
    g2_subjects = np.concatenate([enrolled[n_subjects // 2:], enrolled[:both]])
    galleries = []
    for subjects in (g1_subjects, g2_subjects):
        ids = np.repeat(subjects, per_gallery)
        galleries.append((_unit(centres[ids] + noise * rng.normal(size=(len(ids), dim))), ids))
    probe_ids = np.repeat(np.arange(n_subjects + neither), probes_per)
    probes = _unit(centres[probe_ids] + noise * rng.normal(size=(len(probe_ids), dim)))
    return probes, probe_ids, galleries


def _assert_equal(probes, probe_ids, galleries, fpirs=FPIRS) -> dict:
    ours = identification(probes, probe_ids, galleries, fpirs=fpirs)
    ref = run_1n(probes, probe_ids, *galleries[0], *galleries[1], list(fpirs))
    for name, key in (("G1", "g1"), ("G2", "g2")):
        assert ours["galleries"][name]["rank_counts"] == dict(zip(map(str, RANKS), ref[key][:3]))
        np.testing.assert_allclose(ours["galleries"][name]["tpir"], ref[key][4], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(ours["galleries"][name]["threshold"], ref[key][3])
    assert [ours["rank_rate"][str(k)] for k in RANKS] == [ref["top_1"], ref["top_5"], ref["top_10"]]
    measured = [v is not None for v in ours["tpir"]]
    np.testing.assert_allclose([v for v in ours["tpir"] if v is not None], ref["mean_tpir"][measured], rtol=0,
                               atol=1e-12)
    return ours


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("noise", [0.3, 0.9, 2.0])
def test_random_feature_sets_equal_the_reference(seed: int, noise: float) -> None:
    rng = np.random.default_rng(seed)
    _assert_equal(*_population(rng, noise=noise), fpirs=list(FPIRS) + fpir_grid().tolist())


def test_subject_in_both_or_neither_gallery() -> None:
    rng = np.random.default_rng(5)
    ours = _assert_equal(*_population(rng, both=7, neither=9))
    assert ours["galleries"]["G1"]["mated"] + ours["galleries"]["G2"]["mated"] > ours["probes"] - 9 * 3


def test_several_templates_per_gallery_subject() -> None:
    """Every enrolled subject with two gallery templates (the reference needs equal counts: it stacks the rows of
    the other subjects' similarities); the label is the first, the second can rank ahead of it."""
    rng = np.random.default_rng(6)
    _assert_equal(*_population(rng, per_gallery=2, noise=1.2))


def test_exact_ties() -> None:
    """Features on a coarse grid: many exactly equal similarities (ranks, correctness and thresholds all tie)."""
    rng = np.random.default_rng(7)
    probes, probe_ids, galleries = _population(rng, noise=1.5, dim=4)
    coarse = lambda x: np.round(x * 2) / 2  # noqa: E731
    galleries = [(coarse(f), ids) for f, ids in galleries]
    galleries[0][0][3] = galleries[0][0][1]  # two gallery templates with the same feature
    probes = coarse(probes)
    probes[:5] = galleries[0][0][1]
    ours = _assert_equal(probes, probe_ids, galleries)
    sims = probes @ galleries[0][0].T
    assert any(len(np.unique(row)) < len(row) for row in sims)  # ties do occur
    assert ours["galleries"]["G1"]["rank_counts"]["1"] >= 0


def test_fpir_below_one_over_non_mated_is_missing() -> None:
    rng = np.random.default_rng(8)
    probes, probe_ids, galleries = _population(rng, neither=2, probes_per=2)
    ours = identification(probes, probe_ids, galleries)
    non_mated = min(g["non_mated"] for g in ours["galleries"].values())
    for fpir, value, g1 in zip(FPIRS, ours["tpir"], ours["galleries"]["G1"]["measurable"]):
        assert (value is None) == (int(non_mated * fpir) < 1 or not g1)
    assert ours["lowest_measurable_fpir"] == pytest.approx(1.0 / non_mated)
    assert "not measurable: FPIR 1e-04 < 1/" in not_measurable_reason(1e-4, non_mated)
    assert min(ours["curve"]["fpir"]) >= 1.0 / max(g["non_mated"] for g in ours["galleries"].values()) * 0.99


def test_gallery_without_mated_or_non_mated_probes_is_an_error() -> None:
    rng = np.random.default_rng(9)
    probes, probe_ids, galleries = _population(rng, neither=0)
    with pytest.raises(ValueError, match="no probe's subject is enrolled"):
        identification(probes[probe_ids >= 30], probe_ids[probe_ids >= 30], [galleries[0], galleries[1]])
    everyone = (_unit(rng.normal(size=(60, 16))), np.arange(60))
    with pytest.raises(ValueError, match="no non-mated search"):
        identification(probes, probe_ids, [everyone, galleries[1]])


def test_template_choice_and_pooling_equal_the_reference() -> None:
    """Duplicate CSV rows and a template listed with two subjects (the first row wins); pooled features agree with
    image2template_feature (float32 against float64)."""
    rng = np.random.default_rng(10)
    n = 400
    templates = rng.integers(1, 60, size=n)
    medias = rng.integers(1, 90, size=n)
    feats = rng.normal(size=(n, 8)).astype(np.float32)
    rows_t = np.array([5, 5, 3, 9, 3, 12, 5])
    rows_s = np.array([50, 50, 30, 90, 31, 120, 51])
    chosen, subjects = choose_templates(rows_t, rows_s)
    np.testing.assert_array_equal(chosen, [3, 5, 9, 12])
    np.testing.assert_array_equal(subjects, [30, 50, 90, 120])
    all_templates, all_feats = template_features(feats, templates, medias)
    ids, subj, ours = select_templates(all_templates, all_feats, rows_t, rows_s)
    ref, ref_ids, ref_subj = image2template_feature_1n(feats, templates, medias, rows_t, rows_s)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(subj, ref_subj)
    np.testing.assert_allclose(ours, ref, atol=2e-6)
    with pytest.raises(ValueError, match="no images in the media list"):
        select_templates(all_templates, all_feats, np.array([1000]), np.array([1]))


@pytest.mark.parametrize("ties", [False, True])
def test_bootstrap_equals_the_reference_on_the_expanded_probe_set(ties: bool) -> None:
    """Each replicate: the probes repeated as drawn, then the transcription of the reference on that set."""
    rng = np.random.default_rng(11)
    probes, probe_ids, galleries = _population(rng, n_subjects=30, neither=4, noise=1.0, dim=8 if ties else 16)
    if ties:
        probes = np.round(probes * 2) / 2
        galleries = [(np.round(f * 2) / 2, ids) for f, ids in galleries]
    fpirs = [0.05, 0.1, 0.3, 1.0]
    result = identification(probes, probe_ids, galleries, fpirs=fpirs)
    weights = resample_counts(len(probe_ids), 40, rng)
    weights[0] = 1
    boot = identification_boot(list(result["searches"].values()), len(probe_ids), weights, fpirs, RANKS)
    assert boot["rank_1"][0] == result["rank_rate"]["1"]
    for b, w in enumerate(weights):
        idx = np.repeat(np.arange(len(probe_ids)), w)
        ref = run_1n(probes[idx], probe_ids[idx], *galleries[0], *galleries[1], fpirs)
        assert [boot[f"rank_{k}"][b] for k in RANKS] == pytest.approx([ref["top_1"], ref["top_5"], ref["top_10"]],
                                                                      abs=1e-12)
        np.testing.assert_allclose([boot[f"tpir_{i}"][b] for i in range(len(fpirs))], ref["mean_tpir"], atol=1e-12)
