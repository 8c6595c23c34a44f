"""Writers: the training RecordIO, the verification .bin sets, the IJB-style suites (1:1 and 1:N meta) and the
manifest of a root."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from x2softmax.data.ijb import write_identification_meta, write_ijb_meta
from x2softmax.data.images import encode_image
from x2softmax.data.pairs import write_bin
from x2softmax.data.recordio import write_face_recordio
from x2softmax.data.synthetic.nuisance import draw_condition, jitter_condition, nuisance_at
from x2softmax.data.synthetic.parallel import ordered_map
from x2softmax.data.synthetic.plan import S_VAL_PLAN, val_pair_plan
from x2softmax.data.synthetic.population import (
    S_IJB_1N, S_IJB_IMG, S_IJB_MEDIA, S_IJB_PLAN, S_TRAIN_IMG, S_VAL_IMG, class_sizes, image_latent, population,
    stream_rng,
)
from x2softmax.data.synthetic.render import faceness_score, render_face
from x2softmax.data.synthetic.settings import GENERATOR_VERSION, resolve_config
from x2softmax.io import atomic_write_bytes, atomic_write_json, file_sha256
from x2softmax.vocabulary import BENCHMARKS, IJB_SUITES, VERIFICATION


def train_samples(cfg: dict, latents: np.ndarray, sizes: np.ndarray, workers: int = 1) -> Iterator[tuple[int, bytes]]:
    """(class id, JPEG bytes) of every training image, class by class (the RecordIO writer's input), rendered in
    `workers` processes."""
    nz = nuisance_at(cfg["nuisance"], cfg["train"]["nuisance"])
    jitter, seed = cfg["population"]["appearance_jitter"], cfg["seed"]

    def sample(job: tuple[int, int]) -> tuple[int, bytes]:
        class_id, k = job
        rng = stream_rng(seed, S_TRAIN_IMG, class_id, k)
        img, _ = render_face(image_latent(latents[class_id], rng, jitter), draw_condition(rng, nz), rng)
        return class_id, encode_image(img, ".jpg", cfg["jpeg_quality"])

    return ordered_map(sample, [(c, k) for c, size in enumerate(sizes.tolist()) for k in range(size)], workers)


def _val_condition(cfg: dict, name: str, role: int, rng: np.random.Generator, nz: dict, age_base: tuple) -> dict:
    """One verification image's condition in its set's flavour: role 0 frontal / moderate pose / younger, role 1
    profile / wide pose / older (`age_base`: the identity's younger age and age gap in this set)."""
    cond = draw_condition(rng, nz)
    rad = math.pi / 180.0
    low, high = cfg["val"]["profile_yaw_deg"]
    condition = VERIFICATION[name].condition
    if condition == "frontal_profile":  # frontal vs strong yaw (CFP-FP; VGG2-FP: VGGFace2's frontal-profile pairs)
        cond["yaw"] = (rng.choice([-1.0, 1.0]) * rng.uniform(low, high) if role else rng.normal(0.0, 4.0)) * rad
    elif condition == "cross_pose":  # cross-pose: a moderate pose against a wide one
        wide = rng.choice([-1.0, 1.0]) * rng.uniform(0.8 * low, high)
        cond["yaw"] = (wide if role else rng.uniform(-0.5, 0.5) * low) * rad
    elif condition == "cross_age":  # appearance drift: role-1 images are older by the identity's age gap
        young, gap = age_base
        cond["age"] = young + gap * role + rng.normal(0.0, 0.03)
    return cond


def _write_val(cfg: dict, out_root: Path, latents: np.ndarray, families: np.ndarray, workers: int) -> dict:
    nz = nuisance_at(cfg["nuisance"], cfg["val"]["nuisance"])
    jitter, seed = cfg["population"]["appearance_jitter"], cfg["seed"]
    counts = {}
    for set_index, name in enumerate(BENCHMARKS):
        plan = val_pair_plan(cfg, name, families)

        def image(job: tuple[int, int, int], set_index: int = set_index, name: str = name) -> bytes:
            i, identity, role = job
            age_rng = stream_rng(seed, S_VAL_PLAN, set_index, 1, identity)
            age_base = (age_rng.uniform(-0.3, 0.0), age_rng.uniform(*cfg["val"]["age_gap"]))
            rng = stream_rng(seed, S_VAL_IMG, set_index, i)
            cond = _val_condition(cfg, name, role, rng, nz, age_base)
            img, _ = render_face(image_latent(latents[identity], rng, jitter), cond, rng)
            return encode_image(img, ".jpg", cfg["jpeg_quality"])

        jobs = [(i, *job) for i, job in enumerate(zip(plan.identity.tolist(), plan.role.tolist()))]
        encoded = list(ordered_map(image, jobs, workers))
        write_bin(out_root / "val" / f"{name}.bin", [encoded[i] for i in plan.pairs.ravel().tolist()],
                  plan.issame.tolist())
        counts[name] = {"pairs": len(plan.issame), "genuine": int(plan.issame.sum()),
                        "identities": len(np.unique(plan.identity)), "images": len(encoded)}
    return counts


def ijb_plan(cfg: dict, suite: str, n_identities: int) -> dict:
    """Subjects, templates, media and images of an IJB-style suite, and its template pairs [M, 3]."""
    s = cfg[suite.lower()]
    suite_index = IJB_SUITES.index(suite)
    rng = stream_rng(cfg["seed"], S_IJB_PLAN, suite_index)
    subjects = rng.choice(n_identities, size=s["subjects"], replace=False)
    image_subject, image_template, image_media = [], [], []
    template_subject = []
    media_id = 0
    for subject in subjects.tolist():
        for _ in range(int(rng.integers(s["templates"][0], s["templates"][1] + 1))):
            template_subject.append(subject)
            for _ in range(int(rng.integers(s["media"][0], s["media"][1] + 1))):
                media_id += 1
                video = rng.random() < s["video_prob"]
                frames = int(rng.integers(s["frames"][0], s["frames"][1] + 1)) if video else 1
                image_subject += [subject] * frames
                image_template += [len(template_subject)] * frames
                image_media += [media_id] * frames
    template_subject = np.array(template_subject)
    t1, t2 = np.triu_indices(len(template_subject), k=1)
    genuine = template_subject[t1] == template_subject[t2]
    impostor = np.flatnonzero(~genuine)
    if len(impostor) > s["impostor_pairs"]:
        impostor = np.sort(rng.choice(impostor, size=s["impostor_pairs"], replace=False))
    keep = np.sort(np.concatenate([np.flatnonzero(genuine), impostor]))
    pairs = np.stack([t1[keep] + 1, t2[keep] + 1, genuine[keep].astype(np.int64)], axis=1)
    return {
        "subjects": np.array(image_subject, np.int64),
        "template_ids": np.array(image_template, np.int64),
        "media_ids": np.array(image_media, np.int64),
        "pairs": pairs,
    }


def identification_plan(cfg: dict, suite: str, plan: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The 1:N lists of a suite planned by `ijb_plan` (as the real ones): its subjects split at random into two
    disjoint galleries, one gallery template per subject drawn at random, every other template a probe (so each
    probe subject is enrolled in exactly one gallery). Key of IDENTIFICATION_FILES -> (template ids, subject ids)."""
    rng = stream_rng(cfg["seed"], S_IJB_1N, IJB_SUITES.index(suite))
    templates, first = np.unique(plan["template_ids"], return_index=True)
    subject_of = plan["subjects"][first]
    subjects = np.unique(subject_of)
    in_first = np.zeros(len(subjects), dtype=bool)
    in_first[rng.permutation(len(subjects))[: (len(subjects) + 1) // 2]] = True
    gallery = np.zeros(len(templates), dtype=bool)
    for subject in subjects.tolist():
        own = np.flatnonzero(subject_of == subject)
        gallery[own[int(rng.integers(len(own)))]] = True
    first_gallery = in_first[np.searchsorted(subjects, subject_of)]
    return {"gallery_1": (templates[gallery & first_gallery], subject_of[gallery & first_gallery]),
            "gallery_2": (templates[gallery & ~first_gallery], subject_of[gallery & ~first_gallery]),
            "probe": (templates[~gallery], subject_of[~gallery])}


def _write_ijb(cfg: dict, out_root: Path, suite: str, latents: np.ndarray, workers: int) -> dict:
    s = cfg[suite.lower()]
    suite_index = IJB_SUITES.index(suite)
    plan = ijb_plan(cfg, suite, len(latents))
    nz = nuisance_at(cfg["nuisance"], s["nuisance"])
    jitter, seed = cfg["population"]["appearance_jitter"], cfg["seed"]
    root = out_root / suite
    crops_dir = root / "loose_crop"
    if crops_dir.exists():
        shutil.rmtree(crops_dir)  # a previous generation may have written more images

    def image(job: tuple[int, int, int]) -> tuple[bytes, np.ndarray, float]:
        n, subject, media = job  # a media's condition has its own stream: the same in whichever worker draws it
        rng = stream_rng(seed, S_IJB_IMG, suite_index, n)
        cond = jitter_condition(draw_condition(stream_rng(seed, S_IJB_MEDIA, suite_index, media), nz), rng, nz)
        crop = (int(rng.integers(s["crop"][0], s["crop"][1] + 1)), int(rng.integers(s["crop"][0], s["crop"][1] + 1)))
        img, marks = render_face(image_latent(latents[subject], rng, jitter), cond, rng, crop=crop)
        return encode_image(img, ".jpg", cfg["jpeg_quality"]), marks, faceness_score(cond, nz["blur"])

    jobs = [(n, *job) for n, job in enumerate(zip(plan["subjects"].tolist(), plan["media_ids"].tolist()), start=1)]
    names, landmarks, faceness = [], [], []
    for (n, _, _), (jpeg, marks, score) in zip(jobs, ordered_map(image, jobs, workers)):
        names.append(f"{n}.jpg")
        atomic_write_bytes(crops_dir / names[-1], jpeg)
        landmarks.append(marks)
        faceness.append(score)
    write_ijb_meta(root, suite, names, plan["template_ids"], plan["media_ids"], np.array(landmarks),
                   np.array(faceness), plan["pairs"])
    lists = identification_plan(cfg, suite, plan)
    write_identification_meta(root, suite, lists, names, plan["template_ids"])
    return {
        "images": len(names),
        "subjects": len(np.unique(plan["subjects"])),
        "templates": int(plan["template_ids"].max()),
        "media": int(plan["media_ids"].max()),
        "pairs": len(plan["pairs"]),
        "genuine": int(plan["pairs"][:, 2].sum()),
        "identification": {key: len(templates) for key, (templates, _) in lists.items()},
    }


def _size_stats(sizes: np.ndarray) -> dict:
    return {
        "min": int(sizes.min()),
        "max": int(sizes.max()),
        "mean": float(sizes.mean()),
        "median": float(np.median(sizes)),
        "top10pct_share": float(np.sort(sizes)[::-1][: max(1, len(sizes) // 10)].sum() / sizes.sum()),
    }


def generate(cfg: dict | None, out_root: Path, workers: int = 1) -> dict:
    """Write a synthetic data root (train/, val/, IJBB/, IJBC/, MANIFEST.json) and return its manifest; the images
    are rendered in `workers` processes (the bytes written are the same for any number)."""
    cfg = resolve_config(cfg)
    out_root = Path(out_root)
    train_latents, train_families = population(cfg, "train")
    eval_latents, eval_families = population(cfg, "eval")
    t = cfg["train"]
    sizes = class_sizes(t["identities"], t["images_min"], t["images_max"], t["size_exponent"], cfg["seed"])
    write_face_recordio(out_root / "train", train_samples(cfg, train_latents, sizes, workers), t["identities"],
                        image_size=112)
    counts: dict[str, Any] = {
        "train": {"identities": t["identities"], "families": t["families"], "images": int(sizes.sum())},
        "val": _write_val(cfg, out_root, eval_latents, eval_families, workers),
    }
    for suite in IJB_SUITES:
        counts[suite] = _write_ijb(cfg, out_root, suite, eval_latents, workers)
    files = sorted(p for p in out_root.rglob("*") if p.is_file() and p.name != "MANIFEST.json")
    manifest = {
        "generator": "x2softmax.data.synthetic",
        "version": GENERATOR_VERSION,
        "seed": cfg["seed"],
        "config": cfg,
        "counts": counts,
        "class_sizes": _size_stats(sizes),
        "files": {p.relative_to(out_root).as_posix(): file_sha256(p) for p in files},
    }
    atomic_write_json(out_root / "MANIFEST.json", manifest)
    return manifest
