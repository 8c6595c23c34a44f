"""Registry, resumable downloads against a local HTTP server, safe extraction, dataset checks, preflight, fetch."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from x2softmax.data import datasets
from x2softmax.data.archives import download, extract_archive
from x2softmax.data.datasets import check_dataset, fetch_dataset, preflight
from x2softmax.data.registry import load_registry
from x2softmax.data.ijb import meta_paths, write_identification_meta, write_ijb_meta
from x2softmax.data.images import encode_image
from x2softmax.data.pairs import write_bin
from x2softmax.data.recordio import write_face_recordio

def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


PAYLOAD = _tar_bytes({"data/a.bin": bytes(range(256)) * 800, "data/b.bin": bytes(range(255, -1, -1)) * 800})


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /data.bin with Range support; the first full request is cut off half-way."""

    requests_seen: list[str | None] = []
    cut_first = True

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        type(self).requests_seen.append(self.headers.get("Range"))
        if self.path != "/data.bin":
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if type(self).cut_first and start == 0:
            type(self).cut_first = False
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # drop the connection mid-transfer
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(http_server) -> str:
    RangeHandler.requests_seen = []
    RangeHandler.cut_first = True
    return http_server(RangeHandler)


def test_registry_lists_the_paper_datasets() -> None:
    registry = load_registry()
    for name in ("ms1mv3", "lfw", "cfp_fp", "agedb_30", "calfw", "cplfw", "vgg2_fp", "IJBB", "IJBC"):
        assert name in registry
    assert registry["ms1mv3"]["expect"] == {"num_classes": 93431, "num_images": 5179510, "image_size": 112}
    assert registry["cfp_fp"]["expect"]["pairs"] == 7000 and registry["lfw"]["from"] == "ms1mv3"
    assert registry["IJBC"]["expect"]["pairs"] == 15658489


def test_interrupted_download_resumes(server: str, tmp_path: Path) -> None:
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    dest = download(f"{server}/data.bin", tmp_path / "data.bin", sha256=sha, backoff=0.01, chunk=4096)
    assert dest.read_bytes() == PAYLOAD
    # the second request resumes from the whole 4 KiB blocks written before the cut, less the 64 KiB compared
    resumed = (len(PAYLOAD) // 2) // 4096 * 4096
    assert RangeHandler.requests_seen == [None, f"bytes={resumed - 65536}-"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin", "data.bin.sha256"]
    assert (tmp_path / "data.bin.sha256").read_text() == f"{sha}  data.bin\n"


def test_checksum_mismatch_leaves_nothing(server: str, tmp_path: Path) -> None:
    RangeHandler.cut_first = False
    with pytest.raises(ValueError, match="corrupt .sha256 is"):
        download(f"{server}/data.bin", tmp_path / "data.bin", sha256="0" * 64, backoff=0.01)
    assert list(tmp_path.iterdir()) == []


def test_missing_url_fails_without_retrying(server: str, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="404"):
        download(f"{server}/nothing", tmp_path / "x", backoff=0.01)
    assert len(RangeHandler.requests_seen) == 1


def tar_with(tmp_path: Path, build) -> Path:
    path = tmp_path / "a.tar"
    with tarfile.open(path, "w") as tf:
        build(tf)
    return path


def add_file(tf: tarfile.TarFile, name: str, data: bytes = b"x") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def add_link(tf: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    tf.addfile(info)


@pytest.mark.parametrize(
    "build",
    [
        lambda tf: add_file(tf, "../evil.txt"),
        lambda tf: add_file(tf, "/tmp/evil.txt"),
        lambda tf: add_link(tf, "ok/link", "/etc/passwd"),
        lambda tf: add_link(tf, "ok/link", "../../outside"),
    ],
)
def test_tar_escapes_are_refused(tmp_path: Path, build) -> None:
    archive = tar_with(tmp_path, lambda tf: (add_file(tf, "fine.txt"), build(tf)))
    with pytest.raises(ValueError, match="refus"):
        extract_archive(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_zip_escape_refused_and_good_archives_extract(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("fine.txt", "x")
        zf.writestr("../evil.txt", "x")
    with pytest.raises(ValueError, match=r"\.\./evil\.txt"):
        extract_archive(bad, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and list((tmp_path / "out").iterdir()) == []
    good = tar_with(tmp_path, lambda tf: (add_file(tf, "d/a.txt", b"hello"), add_file(tf, "d/b.txt", b"bye")))
    files = extract_archive(good, tmp_path / "good")
    assert sorted(p.name for p in files) == ["a.txt", "b.txt"]
    assert (tmp_path / "good" / "d" / "b.txt").read_bytes() == b"bye"
    (tmp_path / "plain.txt").write_text("nope")
    with pytest.raises(ValueError, match="not a zip or tar"):
        extract_archive(tmp_path / "plain.txt", tmp_path / "x")


def png(seed: int, size: int = 16) -> bytes:
    return encode_image(np.random.default_rng(seed).integers(0, 255, (size, size, 3), np.uint8), ".png")


def make_training_set(out: Path) -> Path:
    return write_face_recordio(out, [(c, png(i)) for i, c in enumerate([0, 0, 1, 2, 2])], 3, image_size=16)


def make_ijb(root: Path) -> Path:
    names = [f"{i}.jpg" for i in range(4)]
    (root / "loose_crop").mkdir(parents=True)
    for i, name in enumerate(names):
        (root / "loose_crop" / name).write_bytes(png(i, 40))
    write_ijb_meta(root, "IJBC", names, [1, 1, 2, 2], [1, 2, 3, 4], np.full((4, 5, 2), 20.0), np.ones(4),
                   np.array([[1, 2, 0], [1, 1, 1]]))
    write_identification_meta(root, "IJBC", {"gallery_1": ([1], [7]), "gallery_2": ([2], [8]),
                                             "probe": ([1, 2], [7, 8])}, names, [1, 1, 2, 2])
    return root


def test_check_dataset_on_small_sets(tmp_path: Path) -> None:
    summary = check_dataset(make_training_set(tmp_path / "train"))
    assert "5 images, 3 classes" in summary
    write_bin(tmp_path / "lfw.bin", [png(i) for i in range(4)], [True, False])
    assert "2 pairs (1 same)" in check_dataset(tmp_path / "lfw.bin")
    assert "4 images, 2 templates, 2 pairs (1 genuine), 1:N 2 gallery and 2 probe templates" in check_dataset(
        make_ijb(tmp_path / "IJBC"))
    gallery = meta_paths(tmp_path / "IJBC", "IJBC")["gallery_2"]
    gallery.write_text(gallery.read_text().replace("\n2,8,", "\n3,8,"))
    with pytest.raises(ValueError, match=r"ijbc_1N_gallery_G2\.csv:2: template 3 has no images"):
        check_dataset(tmp_path / "IJBC")
    with pytest.raises(ValueError, match=r"gallery_templates is 2, the complete dataset has 3531"):
        check_dataset(make_ijb(tmp_path / "IJBC2"), expect={"gallery_templates": 3531})
    with pytest.raises(ValueError, match="pairs is 2, the complete dataset has 6000"):
        check_dataset(tmp_path / "lfw.bin", expect={"pairs": 6000})
    (tmp_path / "train" / "property").write_text("2,16,16\n")
    with pytest.raises(ValueError, match=r"label 2 outside \[0, 2\)"):
        check_dataset(tmp_path / "train")
    (tmp_path / "IJBC" / "loose_crop" / "3.jpg").unlink()
    with pytest.raises(ValueError, match=r"1 of 4 listed images missing \(first: 3\.jpg\)"):
        check_dataset(tmp_path / "IJBC")
    with pytest.raises(ValueError, match="neither"):
        check_dataset(tmp_path / "IJBC" / "loose_crop")


def test_preflight_reports_what_to_put_where(tmp_path: Path) -> None:
    root = tmp_path / "data"
    problems = preflight(["ms1mv3", "lfw", "IJBC"], root)
    assert len(problems) == 3
    assert problems[0].startswith("ms1mv3: ") and str(root / "train") in problems[0]
    assert str(root / "val" / "lfw.bin") in problems[1] and "NIST" in problems[2]
    assert all(name in problems[2] for name in ("ijbc_1N_gallery_G1.csv", "ijbc_1N_gallery_G2.csv",
                                                "ijbc_1N_probe_mixed.csv"))
    make_training_set(root / "train")
    write_bin(root / "val" / "lfw.bin", [png(i) for i in range(4)], [True, False])
    make_ijb(root / "IJBC")
    strict = preflight(["ms1mv3", "lfw", "IJBC"], root)
    assert len(strict) == 1 and "num_classes is 3, the complete dataset has 93431" in strict[0]
    (root / "MANIFEST.json").write_text("{}")
    assert preflight(["ms1mv3", "lfw", "IJBC"], root) == []
    meta_paths(root / "IJBC", "IJBC")["probe"].unlink()
    assert preflight(["IJBC"], root)[0].startswith(f"IJBC: {meta_paths(root / 'IJBC', 'IJBC')['probe']}: missing")
    (root / "val" / "lfw.bin").write_bytes(b"GIF89a")
    assert "not a pickle" in preflight(["lfw"], root)[0]


def test_fetch_from_local_archive_records_hashes(tmp_path: Path) -> None:
    staging = tmp_path / "stage" / "ms1m-retinaface-t1"
    make_training_set(staging)
    write_bin(staging / "lfw.bin", [png(i) for i in range(4)], [True, False])
    archive = tmp_path / "ms1m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in staging.iterdir():
            zf.write(path, f"ms1m-retinaface-t1/{path.name}")
    root = tmp_path / "data"
    root.mkdir()
    (root / "MANIFEST.json").write_text("{}")
    assert fetch_dataset("ms1mv3", root, source=str(archive)) == root / "train"
    record = json.loads((root / "ms1mv3.sha256.json").read_text())
    assert set(record["files"]) == {"train/train.rec", "train/train.idx", "train/property"}
    assert record["archive"]["name"] == "ms1m.zip"
    assert fetch_dataset("lfw", root) == root / "val" / "lfw.bin"
    assert (root / "lfw.sha256.json").exists()
    assert fetch_dataset("lfw", root) == root / "val" / "lfw.bin"  # present: checked against the record
    with open(root / "val" / "lfw.bin", "r+b") as fh:
        fh.seek(-3, 2)
        fh.write(b"zzz")
    with pytest.raises(ValueError, match="sha256 differs"):
        fetch_dataset("lfw", root)
    with pytest.raises(FileNotFoundError, match="cplfw.bin: not in the ms1mv3 archive"):
        fetch_dataset("cplfw", root)
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


def test_manual_sources_explain_themselves(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="NIST"):
        fetch_dataset("IJBC", tmp_path)
    with pytest.raises(RuntimeError, match="8eb3"):
        fetch_dataset("ms1mv3", tmp_path, source="baidu")
    with pytest.raises(KeyError, match="unknown dataset"):
        datasets.dataset_path("imagenet", tmp_path)


def test_fetch_ijb_from_local_archive(tmp_path: Path) -> None:
    make_ijb(tmp_path / "IJB_release" / "IJBC")
    archive = tmp_path / "IJB_release.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(tmp_path / "IJB_release", "IJB_release")
    root = tmp_path / "data"
    root.mkdir()
    (root / "MANIFEST.json").write_text("{}")
    assert fetch_dataset("IJBC", root, source=str(archive)) == root / "IJBC"
    assert preflight(["IJBC"], root) == []
    assert "ijbc_template_pair_label.txt" in (root / "IJBC.sha256.json").read_text()
    with pytest.raises(ValueError, match="already exists"):
        fetch_dataset("IJBC", root, source=str(archive))


def test_preflight_catches_a_mismatched_index(tmp_path: Path) -> None:
    make_training_set(tmp_path / "train")
    (tmp_path / "MANIFEST.json").write_text("{}")
    (tmp_path / "train" / "train.idx").write_text("0\t4\n")
    assert "no RecordIO magic at byte offset 4" in preflight(["ms1mv3"], tmp_path)[0]
