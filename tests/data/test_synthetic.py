"""Synthetic face identities: config checks, determinism, outputs read back through the real readers, module order."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import numpy as np
import pytest

from x2softmax.config import load_config
from x2softmax.data import synthetic as S
from x2softmax.data.images import decode_image
from x2softmax.data.ijb import load_identification_lists, load_ijb_suite
from x2softmax.data.pairs import load_bin_images, load_bin_unique, read_bin
from x2softmax.data.recordio import FaceRecordIO, load_face_arrays
from x2softmax.io import file_sha256
from x2softmax.vocabulary import BENCHMARKS, IJB_SUITES

# The generator settings of the smoke preset (the workflow tests run the same).
SMOKE = load_config("smoke")["data"]["synthetic"]

# Smaller still than SMOKE: for the tests that generate several roots.
TINY = {
    "train": {"identities": 5, "families": 2, "images_min": 1, "images_max": 3},
    "eval": {"identities": 8, "families": 2},
    "val": {"pairs": 20, "identities": 4, "images": 4},
    # fixed counts (every media a 2-frame video), so that reseeding changes the bytes but not the file names
    "ijbb": {"subjects": 2, "templates": [2, 2], "media": [1, 1], "frames": [2, 2], "video_prob": 1.0},
    "ijbc": {"subjects": 2, "templates": [2, 2], "media": [1, 1], "frames": [2, 2], "video_prob": 1.0},
}


def _with(cfg: dict, **changes: dict) -> dict:
    out = copy.deepcopy(cfg)
    for section, values in changes.items():
        if isinstance(values, dict):
            out.setdefault(section, {}).update(values)
        else:
            out[section] = values
    return out


def _file_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synthetic") / "data"
    return root, S.generate(SMOKE, root)


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"train": {"bogus": 1}}, "train.bogus"),
        ({"colour": 1}, "colour"),
        ({"val": {"pairs": 50}}, "val.pairs"),
        ({"train": {"identities": "many"}}, "train.identities"),
        ({"train": {"images_min": 9, "images_max": 3}}, "train.images_max"),
        ({"ijbb": {"crop": [200, 150]}}, "ijbb.crop"),
        ({"nuisance": {"blur": -1.0}}, "nuisance.blur"),
        ({"eval": {"identities": 10, "families": 6}}, "eval.identities"),
    ],
)
def test_bad_config_raises_naming_the_key(cfg: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        S.resolve_config(cfg)


def test_resolved_config_merges_over_defaults() -> None:
    cfg = S.resolve_config({"val": {"pairs": 40}})
    assert cfg["val"]["pairs"] == 40
    assert cfg["val"]["age_gap"] == S.DEFAULTS["val"]["age_gap"]
    assert S.DEFAULTS["val"]["pairs"] == 24000  # DEFAULTS itself is left untouched


def test_generation_is_deterministic_and_order_independent(tmp_path: Path) -> None:
    first, again = _file_bytes_of(tmp_path / "a", TINY), _file_bytes_of(tmp_path / "b", TINY)
    assert first == again
    reseeded = _file_bytes_of(tmp_path / "c", _with(TINY, seed=7))
    assert first.keys() == reseeded.keys()
    assert all(first[k] != reseeded[k] for k in ("train/train.rec", "val/lfw.bin", "IJBB/loose_crop/1.jpg"))
    # every image has its own (seed, stream, identity, index) RNG: a bigger training set leaves val/ and IJB alone
    bigger = _file_bytes_of(tmp_path / "d", _with(TINY, train={"identities": 7, "images_max": 4}))
    assert bigger["train/train.rec"] != first["train/train.rec"]
    assert all(bigger[k] == first[k] for k in first if k.startswith(("val/", "IJB")))


def _file_bytes_of(root: Path, cfg: dict, workers: int = 1) -> dict[str, bytes]:
    S.generate(cfg, root, workers=workers)
    return _file_bytes(root)


@pytest.mark.slow  # forks worker processes from package code (the tier rule reads the tests' code only)
def test_the_bytes_written_do_not_depend_on_the_number_of_workers(tmp_path: Path) -> None:
    cfg = _with(TINY, train={"identities": 9, "images_max": 6})  # more images than workers in every part
    one = _file_bytes_of(tmp_path / "one", cfg)
    assert _file_bytes_of(tmp_path / "two", cfg, workers=2) == one
    assert _file_bytes_of(tmp_path / "three", cfg, workers=3) == one


def test_train_set_reads_back(smoke: tuple[Path, dict]) -> None:
    root, manifest = smoke
    images, labels = load_face_arrays(root / "train")
    counts = manifest["counts"]["train"]
    assert images.shape == (counts["images"], 112, 112, 3) and images.dtype == np.uint8
    assert np.all(np.diff(labels) >= 0)  # grouped by class id
    assert set(labels.tolist()) == set(range(counts["identities"]))
    reader = FaceRecordIO(root / "train")
    assert reader.num_classes == counts["identities"] and reader.image_size == 112
    sizes = np.diff(reader.identity_ranges(), axis=1)[:, 0]
    assert np.array_equal(sizes, np.bincount(labels))
    assert sizes.min() == manifest["class_sizes"]["min"] and sizes.max() == manifest["class_sizes"]["max"]
    assert images.std() > 20  # actual pictures, not blank frames


def test_val_sets_are_fold_contiguous(smoke: tuple[Path, dict]) -> None:
    root, manifest = smoke
    pairs = SMOKE["val"]["pairs"]
    for name in BENCHMARKS:
        bins, issame = read_bin(root / "val" / f"{name}.bin")
        assert len(bins) == 2 * pairs == 2 * manifest["counts"]["val"][name]["pairs"]
        folds = issame.reshape(10, pairs // 10)
        half = pairs // 20
        assert folds[:, :half].all() and not folds[:, half:].any()
        assert decode_image(bins[0]).shape == (112, 112, 3)


def test_val_pair_plans_follow_the_set_flavour() -> None:
    cfg = S.resolve_config(SMOKE)
    _, families = S.population(cfg, "eval")
    val = cfg["val"]
    for name in BENCHMARKS:
        plan = S.val_pair_plan(cfg, name, families)
        assert len(plan.identity) == val["identities"] * val["images"] == len(plan.role)
        ids = plan.identity[plan.pairs]
        assert np.all((ids[:, 0] == ids[:, 1]) == plan.issame)
        assert np.all(plan.pairs[:, 0] != plan.pairs[:, 1])
        distinct = {tuple(sorted(p)) for p in plan.pairs.tolist()}
        assert len(distinct) == len(plan.pairs)  # no pair twice
        uses = np.bincount(plan.pairs.ravel(), minlength=len(plan.identity))
        assert uses.min() >= 0 and uses.mean() == 2 * val["pairs"] / len(plan.identity)  # images shared by pairs
        if name != "lfw":  # frontal/profile, pose or age: every pair joins a role-0 and a role-1 image
            assert np.all(plan.role[plan.pairs].sum(axis=1) == 1)
        impostors = ids[~plan.issame]
        same_family = families[impostors[:, 0]] == families[impostors[:, 1]]
        if name in ("calfw", "cplfw"):  # look-alike impostors
            assert same_family.all()
        else:
            assert not same_family.all()


def test_val_sets_need_enough_genuine_pairs() -> None:
    with pytest.raises(ValueError, match=r"val\.pairs"):
        S.resolve_config({"val": {"pairs": 6000, "identities": 10, "images": 4}})
    with pytest.raises(ValueError, match=r"val\.identities"):
        S.resolve_config({"val": {"identities": 401}})


def test_bin_images_are_decoded_once(smoke: tuple[Path, dict]) -> None:
    root, manifest = smoke
    path = root / "val" / "agedb_30.bin"
    unique, index, issame = load_bin_unique(path)
    images, issame_all = load_bin_images(path)
    assert len(unique) == len(np.unique(index)) <= manifest["counts"]["val"]["agedb_30"]["images"]
    assert len(unique) < len(images) == 2 * len(issame)
    assert np.array_equal(unique[index], images) and np.array_equal(issame, issame_all)


def test_eval_identities_are_disjoint_from_training() -> None:
    cfg = S.resolve_config(SMOKE)
    train, train_families = S.population(cfg, "train")
    evaluation, eval_families = S.population(cfg, "eval")
    distances = np.linalg.norm(train[:, None, :] - evaluation[None, :, :], axis=-1)
    within_train = np.linalg.norm(train[:, None, :] - train[None, :, :], axis=-1)[np.triu_indices(len(train), 1)]
    assert distances.min() > 0.5 * np.median(within_train)
    assert len(np.unique(train_families)) == cfg["train"]["families"]
    assert np.bincount(eval_families).min() >= 2  # look-alike impostors need two members per family


def test_family_members_look_alike() -> None:
    cfg = S.resolve_config(SMOKE)
    latents, families = S.population(cfg, "train")
    d = np.linalg.norm(latents[:, None] - latents[None], axis=-1)
    same = (families[:, None] == families[None]) & ~np.eye(len(families), dtype=bool)
    different = families[:, None] != families[None]
    assert d[same].mean() < 0.7 * d[different].mean()


def test_class_sizes_are_long_tailed() -> None:
    sizes = S.class_sizes(300, 5, 80, 1.0, seed=1)
    assert sizes.min() == 5 and sizes.max() == 80
    assert np.median(sizes) < sizes.mean()
    top_decile = np.sort(sizes)[::-1][:30].sum() / sizes.sum()
    assert top_decile > 0.2  # the largest 10% of the classes hold over a fifth of the images
    assert not np.all(np.diff(sizes) <= 0)  # shuffled over class ids, not sorted
    steeper = S.class_sizes(300, 5, 80, 2.0, seed=1)
    assert np.median(steeper) < np.median(sizes)


def test_ijb_suites_read_back(smoke: tuple[Path, dict]) -> None:
    root, manifest = smoke
    for suite in IJB_SUITES:
        meta = load_ijb_suite(root / suite, suite)
        counts = manifest["counts"][suite]
        assert len(meta.names) == counts["images"]
        assert len(np.unique(meta.template_ids)) == counts["templates"]
        assert len(np.unique(meta.media_ids)) == counts["media"]
        assert meta.labels.sum() == counts["genuine"] and 0 < counts["genuine"] < len(meta.labels) / 2
        assert np.all((meta.faceness > 0) & (meta.faceness <= 1)) and np.median(meta.faceness) > 0.5
        low, high = SMOKE.get(suite.lower(), {}).get("crop", S.DEFAULTS[suite.lower()]["crop"])
        for i in range(0, len(meta.names), 7):
            img = decode_image(meta.image_path(i).read_bytes())
            h, w = img.shape[:2]
            assert low <= h <= high and low <= w <= high
            assert np.all(meta.landmarks[i] >= 0) and np.all(meta.landmarks[i, :, 0] < w)
            assert np.all(meta.landmarks[i, :, 1] < h)


def test_ijb_genuine_pairs_are_templates_of_one_subject() -> None:
    cfg = S.resolve_config(SMOKE)
    plan = S.ijb_plan(cfg, "IJBC", cfg["eval"]["identities"])
    subject_of = {int(t): int(s) for t, s in zip(plan["template_ids"], plan["subjects"])}
    pairs = plan["pairs"]
    same = np.array([subject_of[a] == subject_of[b] for a, b, _ in pairs])
    assert np.array_equal(same, pairs[:, 2] == 1)
    n_templates = len(subject_of)
    assert len(pairs) == n_templates * (n_templates - 1) // 2  # under the impostor cap: every template pair
    capped_cfg = S.resolve_config(_with(SMOKE, ijbc={"impostor_pairs": 10}))
    capped = S.ijb_plan(capped_cfg, "IJBC", cfg["eval"]["identities"])
    assert (capped["pairs"][:, 2] == 0).sum() == 10 and capped["pairs"][:, 2].sum() == pairs[:, 2].sum()


def test_aligned_landmarks_lie_near_the_template() -> None:
    images, landmarks = S.generate_images(SMOKE, 24, rng_seed=3)
    assert images.shape == (24, 112, 112, 3) and landmarks.shape == (24, 5, 2)
    assert np.all((landmarks > 0) & (landmarks < 112))
    deviation = np.linalg.norm(landmarks - S.TEMPLATE_112, axis=-1)
    assert np.median(deviation) < 4.0 and deviation.max() < 20.0
    assert np.all(landmarks[:, 0, 0] < landmarks[:, 1, 0])  # left eye left of the right eye, as seen
    assert np.all(landmarks[:, 3, 0] < landmarks[:, 4, 0])


def test_ijb_identification_lists(smoke: tuple[Path, dict]) -> None:
    """Two disjoint galleries, one template per enrolled subject; every probe subject enrolled in exactly one;
    every template of the 1:1 media list either a gallery or a probe template."""
    root, manifest = smoke
    for suite in IJB_SUITES:
        meta = load_ijb_suite(root / suite, suite)
        lists = load_identification_lists(root / suite, suite, np.unique(meta.template_ids))
        g1 = dict(zip(*(a.tolist() for a in lists.gallery_1)))
        g2 = dict(zip(*(a.tolist() for a in lists.gallery_2)))
        probes = dict(zip(*(a.tolist() for a in lists.probe)))
        assert not set(g1) & set(g2) and not set(g1.values()) & set(g2.values())
        assert len(set(g1.values())) == len(g1) and len(set(g2.values())) == len(g2)
        assert all((s in g1.values()) != (s in g2.values()) for s in probes.values())
        assert sorted([*g1, *g2, *probes]) == np.unique(meta.template_ids).tolist()
        assert manifest["counts"][suite]["identification"] == {"gallery_1": len(g1), "gallery_2": len(g2),
                                                               "probe": len(probes)}
        rows = (root / suite / "meta").glob("*_1N_*.csv")
        assert len(list(rows)) == 3


def test_manifest_records_config_counts_and_hashes(smoke: tuple[Path, dict]) -> None:
    root, manifest = smoke
    assert manifest == json.loads((root / "MANIFEST.json").read_text())
    assert manifest["version"] == S.GENERATOR_VERSION and manifest["seed"] == SMOKE["seed"]
    assert manifest["config"] == S.resolve_config(SMOKE)
    written = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {"MANIFEST.json"}
    assert set(manifest["files"]) == written
    for rel in ("train/train.rec", "val/cfp_fp.bin", "IJBC/meta/ijbc_template_pair_label.txt"):
        assert manifest["files"][rel] == file_sha256(root / rel)


def test_package_modules_import_only_those_before_them() -> None:
    order = ["parallel", "plan", "settings", "population", "nuisance", "render", "write"]  # docs/architecture.md
    package = Path(S.__file__).parent
    assert sorted(p.stem for p in package.glob("*.py")) == sorted([*order, "__init__"])
    for i, name in enumerate(order):
        tree = ast.parse((package / f"{name}.py").read_text())
        used = {node.module.rsplit(".", 1)[1] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("x2softmax.data.synthetic.")}
        assert used <= set(order[:i]), f"synthetic.{name} imports {sorted(used - set(order[:i]))}"
