"""evaluate_model end to end on a tiny random backbone, a tiny .bin set and a tiny IJB-C suite."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from x2softmax.data.align import ARCFACE_TEMPLATE, align_ijb_suite
from x2softmax.data.ijb import write_identification_meta, write_ijb_meta
from x2softmax.data.images import encode_image
from x2softmax.data.pairs import write_bin
from x2softmax.evaluate.identification import identification
from x2softmax.evaluate.run import evaluate_model
from x2softmax.evaluate.summary import COLUMNS
from x2softmax.models import build_backbone


def _faces(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    base = rng.integers(0, 256, (n, size // 8, size // 8, 3)).astype(np.uint8)
    return np.repeat(np.repeat(base, 8, axis=1), 8, axis=2)


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    run_dir = tmp_path / "train" / "tiny"
    run_dir.mkdir(parents=True)
    model_spec = {"backbone": "iresnet_tiny", "embedding_size": 16, "input_size": 32}
    torch.save(build_backbone("iresnet_tiny", 16, 32).state_dict(), run_dir / "backbone.pt")
    (run_dir / "summary.json").write_text(json.dumps({"run": "tiny", "spec": {"model": model_spec}}))

    data_root = tmp_path / "data"
    faces = _faces(rng, 20, 112)
    issame = np.arange(10) % 2 == 0
    pair_images = []
    for i, same in enumerate(issame):
        pair_images += [faces[2 * i], faces[2 * i] if same else faces[2 * i + 1]]
    write_bin(data_root / "val" / "lfw.bin", [encode_image(img) for img in pair_images], issame.tolist())

    suite_root = data_root / "IJBC"
    (suite_root / "loose_crop").mkdir(parents=True)
    names = [f"{i}.jpg" for i in range(8)]
    for name, img in zip(names, _faces(rng, 8, 128)):
        (suite_root / "loose_crop" / name).write_bytes(encode_image(img))
    landmarks = np.repeat((ARCFACE_TEMPLATE + 8.0)[None], 8, axis=0)
    pairs = np.array([[1, 2, 1], [1, 3, 0], [2, 3, 0], [3, 4, 1], [1, 4, 0], [2, 4, 1]])
    write_ijb_meta(suite_root, "IJBC", names, template_ids=[1, 1, 2, 2, 3, 3, 4, 4],
                   media_ids=[10, 10, 11, 12, 13, 13, 14, 15], landmarks=landmarks,
                   faceness=np.linspace(0.9, 1.0, 8), pairs=pairs)
    write_identification_meta(suite_root, "IJBC", {"gallery_1": ([1], [100]), "gallery_2": ([2], [200]),
                                                   "probe": ([3, 4], [100, 200])}, names, [1, 1, 2, 2, 3, 3, 4, 4])
    align_ijb_suite(suite_root, "IJBC", tmp_path / "aligned" / "IJBC", workers=1)
    return {"run_dir": run_dir, "data_root": data_root, "aligned": tmp_path / "aligned", "tmp": tmp_path}


def test_evaluate_model_end_to_end(setup):
    out_dir = setup["tmp"] / "eval" / "tiny"
    cache = setup["tmp"] / "cache"
    kwargs = dict(run="tiny", loss="arcface", data_root=setup["data_root"], benchmarks=["lfw"],
                  protocols=["10fold", "oracle", "oracle_flip"], ijb=["IJBC"], aligned_root=setup["aligned"], batch_size=7,
                  cache_dir=cache, device="cpu")
    metrics_path = evaluate_model(setup["run_dir"] / "backbone.pt", out_dir, **kwargs)

    table = pd.read_csv(metrics_path)
    assert tuple(table.columns) == COLUMNS
    assert set(table["dataset"]) == {"lfw", "IJBC"}
    assert set(table["protocol"]) == {"10fold", "oracle", "oracle_flip", "N1D1F2", "1N"}
    assert table["checkpoint"].astype(str).str.len().eq(12).all()
    lfw = table[table["dataset"] == "lfw"].set_index(["protocol", "metric"])["value"]
    for protocol in ("10fold", "oracle", "oracle_flip"):  # no ordering is claimed between the protocols
        assert 0 <= lfw[(protocol, "accuracy_pct")] <= 100
    assert {"accuracy_std_pct", "val_at_far_1e-03_pct", "embedding_norm"} <= set(lfw.loc["10fold"].index)
    tar = table[table["metric"].str.startswith("tar_at_far_")]
    assert len(tar) == 6
    # 3 impostor pairs: the lowest measurable FAR is 1/3, so every TAR cell is missing with its reason
    assert tar["value"].isna().all()
    assert tar["note"].str.startswith("not measurable: FAR").all() and "< 1/3 impostor pairs" in tar["note"].iloc[0]

    with np.load(out_dir / "verification_scores.npz") as npz:
        issame = npz["lfw/issame"]
        assert set(npz.files) == {"lfw/issame", "lfw/10fold", "lfw/oracle", "lfw/oracle_flip"}
        assert npz["lfw/10fold"].shape == issame.shape  # squared L2 of the flip-summed embeddings
        # squared L2 distance of unit vectors is 2 - 2 cos: 10fold and oracle_flip score the same embeddings
        np.testing.assert_allclose(npz["lfw/10fold"], 2.0 - 2.0 * npz["lfw/oracle_flip"], atol=1e-9)

    verification = json.loads((out_dir / "verification.json").read_text())
    for protocol in ("10fold", "oracle", "oracle_flip"):
        result = verification["sets"]["lfw"][protocol]
        assert result["dataset"] == "lfw" and result["protocol"] == protocol
    assert len(verification["sets"]["lfw"]["10fold"]["fold_accuracies"]) == 10

    ijb = json.loads((out_dir / "ijb_IJBC.json").read_text())
    assert ijb["dataset"] == "IJBC" and ijb["protocol"] == "N1D1F2"
    assert ijb["counts"] == {"images": 8, "images_not_aligned": 0, "templates": 4, "pairs": 6, "genuine": 3}
    assert set(ijb["tar_at_far"]) == {"1e-06", "1e-05", "1e-04", "1e-03", "1e-02", "1e-01"}
    assert set(ijb["tar_at_far"].values()) == {None} and ijb["lowest_measurable_far"] == pytest.approx(1 / 3)
    assert set(ijb["not_measurable"]) == set(ijb["tar_at_far"])
    with np.load(out_dir / "ijb_IJBC_scores.npz") as npz:
        assert npz["scores"].dtype == np.float32 and npz["scores"].shape == (6,)
        assert npz["labels"].tolist() == [1, 0, 0, 1, 0, 1]

    # 1:N from the same embeddings: one mated and one non-mated probe per gallery; only FPIR 1 is measurable
    ident = json.loads((out_dir / "ijb_IJBC_1N.json").read_text())
    assert ident["probes"] == 2 and ident["tpir"][:4] == [None] * 4 and ident["gallery_names"] == {
        "gallery_1": "G1", "gallery_2": "G2"}
    one_n = table[table["protocol"] == "1N"].set_index("metric")
    assert one_n.loc["rank_1_pct", "value"] == pytest.approx(100.0)  # a one-template gallery: rank 1 always
    assert one_n.loc["tpir_at_fpir_1e-01_pct", "note"].startswith("not measurable: FPIR 1e-01 < 1/1 non-mated")
    with np.load(out_dir / "ijb_IJBC_1N.npz") as npz:  # enough to re-check the rule from outside
        again = identification(npz["probe/features"], npz["probe/subjects"],
                               [(npz[f"{g}/features"], npz[f"{g}/subjects"]) for g in ("gallery_1", "gallery_2")])
        assert npz["probe/templates"].tolist() == [3, 4] and npz["gallery_1/mated"].tolist() == [True, False]
    assert again["rank_rate"] == ident["rank_rate"] and again["tpir"] == ident["tpir"]

    cached = sorted(cache.glob("*.npy"))
    assert len(cached) == 2  # lfw views and IJBC views
    stamps = [p.stat().st_mtime_ns for p in cached]
    again = evaluate_model(setup["run_dir"], setup["tmp"] / "eval2", **kwargs)  # run directory, cached views
    assert [p.stat().st_mtime_ns for p in cached] == stamps
    pd.testing.assert_frame_equal(pd.read_csv(again), table)


def test_missing_inputs_are_named(setup):
    common = dict(run="tiny", loss="arcface", data_root=setup["data_root"], protocols=["10fold"], ijb=[],
                  aligned_root=None)
    with pytest.raises(FileNotFoundError, match="cplfw.bin"):
        evaluate_model(setup["run_dir"], setup["tmp"] / "out", benchmarks=["cplfw"], **common)
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        evaluate_model(setup["tmp"] / "nothing.pt", setup["tmp"] / "out", benchmarks=["lfw"], **common)
    with pytest.raises(ValueError, match="aligned_root"):
        evaluate_model(setup["run_dir"], setup["tmp"] / "out", benchmarks=[], **{**common, "ijb": ["IJBC"]})
    assert not (setup["tmp"] / "out").exists()


def test_a_decoded_pair_store_gives_the_same_results_as_the_bin(setup):
    """Evaluating from the decoded pair store (x2softmax data decode-pairs) writes byte-identical results."""
    from x2softmax.data.pair_store import write_pair_store

    kwargs = dict(run="tiny", loss="arcface", data_root=setup["data_root"], benchmarks=["lfw"],
                  protocols=["10fold", "oracle", "oracle_flip"], ijb=[], aligned_root=None, batch_size=7,
                  device="cpu")
    stores = setup["tmp"] / "pairs"
    write_pair_store(setup["data_root"] / "val" / "lfw.bin", stores / "lfw.npz", 32)
    plain = evaluate_model(setup["run_dir"] / "backbone.pt", setup["tmp"] / "plain", **kwargs).parent
    stored = evaluate_model(setup["run_dir"] / "backbone.pt", setup["tmp"] / "stored", pair_stores=stores,
                            **kwargs).parent
    for name in ("metrics.csv", "verification.json"):
        assert (plain / name).read_bytes() == (stored / name).read_bytes()
    with np.load(plain / "verification_scores.npz") as a, np.load(stored / "verification_scores.npz") as b:
        assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)
