"""A direct transcription of insightface's IJB 1:N evaluation (``recognition/_evaluation_/ijb/ijb_evals.py``, once
``evaluation/IJB/IJB_evals.py``: ``image2template_feature`` with ``choose_templates``, ``evaluation_1N`` and the
combination in ``IJB_test.run_model_test_1N``), loops and all, for tests and bench/identification.py.

One deliberate choice: the row sort is ``np.argsort(..., kind="stable")``. The reference calls the default
(quicksort), whose order among exactly equal similarities depends on numpy's version and the CPU's SIMD sort; the
stable sort is the reading the package implements (on rows without exact ties both orders agree).
"""

from __future__ import annotations

import numpy as np


def image2template_feature_1n(img_feats: np.ndarray, templates: np.ndarray, medias: np.ndarray,
                              choose_templates: np.ndarray, choose_ids: np.ndarray
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Template features of the chosen templates: media means summed, then L2-normalised (float64)."""
    unique_templates, indices = np.unique(choose_templates, return_index=True)
    unique_subjectids = choose_ids[indices]
    template_feats = np.zeros((len(unique_templates), img_feats.shape[1]))
    for count_template, uqt in enumerate(unique_templates):
        (ind_t,) = np.where(templates == uqt)
        face_norm_feats = img_feats[ind_t]
        face_medias = medias[ind_t]
        unique_medias, unique_media_counts = np.unique(face_medias, return_counts=True)
        media_norm_feats = []
        for u, ct in zip(unique_medias, unique_media_counts):
            (ind_m,) = np.where(face_medias == u)
            if ct == 1:
                media_norm_feats += [face_norm_feats[ind_m]]
            else:
                media_norm_feats += [np.mean(face_norm_feats[ind_m], 0, keepdims=True)]
        media_norm_feats = np.array(media_norm_feats)
        template_feats[count_template] = np.sum(media_norm_feats, 0)
    norms = np.sqrt(np.sum(template_feats ** 2, axis=1, keepdims=True))  # sklearn.preprocessing.normalize
    norms[norms == 0.0] = 1.0
    return template_feats / norms, unique_templates, unique_subjectids


def evaluation_1n(query_feats: np.ndarray, gallery_feats: np.ndarray, query_ids: np.ndarray, reg_ids: np.ndarray,
                  fars: list[float]) -> tuple[int, int, int, list[float], list[float]]:
    """(top-1, top-5, top-10 counts, thresholds, TPIRs) of the probes against one gallery, as the reference."""
    similarity = np.dot(query_feats, gallery_feats.T)
    top_1_count, top_5_count, top_10_count = 0, 0, 0
    pos_sims, neg_sims, non_gallery_sims = [], [], []
    for index, query_id in enumerate(query_ids):
        if query_id in reg_ids:
            gallery_label = np.argwhere(reg_ids == query_id)[0, 0]
            index_sorted = np.argsort(similarity[index], kind="stable")[::-1]
            top_1_count += gallery_label in index_sorted[:1]
            top_5_count += gallery_label in index_sorted[:5]
            top_10_count += gallery_label in index_sorted[:10]
            pos_sims.append(similarity[index][reg_ids == query_id][0])
            neg_sims.append(similarity[index][reg_ids != query_id])
        else:
            non_gallery_sims.append(similarity[index])
    pos_sims, neg_sims, non_gallery_sims = np.array(pos_sims), np.array(neg_sims), np.array(non_gallery_sims)
    correct_pos_cond = pos_sims > neg_sims.max(1)
    non_gallery_sims_sorted = np.sort(non_gallery_sims.max(1))[::-1]
    threshes, recalls = [], []
    for far in fars:
        thresh = non_gallery_sims_sorted[max(int((non_gallery_sims_sorted.shape[0]) * far) - 1, 0)]
        recall = np.logical_and(correct_pos_cond, pos_sims > thresh).sum() / pos_sims.shape[0]
        threshes.append(thresh)
        recalls.append(recall)
    return int(top_1_count), int(top_5_count), int(top_10_count), threshes, recalls


def run_1n(probe_feats: np.ndarray, probe_ids: np.ndarray, g1_feats: np.ndarray, g1_ids: np.ndarray,
           g2_feats: np.ndarray, g2_ids: np.ndarray, fars: list[float]) -> dict:
    """Both galleries, combined as run_model_test_1N: counts summed over all probes, TPIR averaged."""
    g1 = evaluation_1n(probe_feats, g1_feats, probe_ids, g1_ids, fars)
    g2 = evaluation_1n(probe_feats, g2_feats, probe_ids, g2_ids, fars)
    query_num = probe_feats.shape[0]
    return {
        "g1": g1, "g2": g2,
        "top_1": (g1[0] + g2[0]) / query_num, "top_5": (g1[1] + g2[1]) / query_num,
        "top_10": (g1[2] + g2[2]) / query_num,
        "mean_tpir": (np.array(g1[4]) + np.array(g2[4])) / 2,
    }
