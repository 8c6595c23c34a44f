"""IJB meta files: insightface format round trip and cross-file validation with file:line errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from x2softmax.data.ijb import (load_identification_lists, load_ijb_suite, meta_paths, write_identification_meta,
                              write_ijb_meta)

NAMES = [f"{i}.jpg" for i in range(6)]
TEMPLATES = [1, 1, 2, 2, 5, 5]
PAIRS = np.array([[1, 2, 0], [1, 5, 0], [2, 2, 1]])


def write_suite(root: Path, suite: str = "IJBC") -> np.ndarray:
    landmarks = np.random.default_rng(0).uniform(0, 150, (6, 5, 2))
    write_ijb_meta(root, suite, NAMES, TEMPLATES, range(10, 16), landmarks, np.linspace(0.5, 1, 6), PAIRS)
    return landmarks


def test_round_trip_insightface_format(tmp_path: Path) -> None:
    landmarks = write_suite(tmp_path, "IJBB")
    paths = meta_paths(tmp_path, "IJBB")
    assert paths["tid_mid"].name == "ijbb_face_tid_mid.txt"
    assert paths["tid_mid"].read_text().splitlines()[0] == "0.jpg 1 10"
    assert len(paths["5pts"].read_text().splitlines()[0].split(" ")) == 12
    assert paths["pairs"].read_text().splitlines()[2] == "2 2 1"
    suite = load_ijb_suite(tmp_path, "IJBB")
    assert suite.names == NAMES and suite.suite == "IJBB"
    np.testing.assert_array_equal(suite.template_ids, TEMPLATES)
    np.testing.assert_array_equal(suite.media_ids, range(10, 16))
    np.testing.assert_allclose(suite.landmarks, landmarks, atol=1e-4)
    assert suite.landmarks.dtype == np.float32 and suite.faceness.dtype == np.float32
    np.testing.assert_array_equal(suite.pairs, PAIRS[:, :2])
    assert suite.labels.dtype == np.uint8 and suite.labels.tolist() == [0, 0, 1]
    assert suite.image_path(2) == tmp_path / "loose_crop" / "2.jpg"


def test_order_follows_the_landmark_file(tmp_path: Path) -> None:
    write_suite(tmp_path)
    tid = meta_paths(tmp_path, "IJBC")["tid_mid"]
    tid.write_text("".join(reversed(tid.read_text().splitlines(keepends=True))))
    suite = load_ijb_suite(tmp_path, "IJBC")
    np.testing.assert_array_equal(suite.template_ids, TEMPLATES)
    np.testing.assert_array_equal(suite.media_ids, range(10, 16))


def _edited(root: Path, which: str, edit: Callable[[str], str]) -> Path:
    """Rewrite one IJB-C meta file under `root` (a key of meta_paths) with `edit`; returns `root`."""
    path = meta_paths(root, "IJBC")[which]
    path.write_text(edit(path.read_text()))
    return root


@pytest.mark.parametrize(
    ("which", "edit", "message"),
    [
        ("pairs", lambda t: t + "7 1 0\n", r"template_pair_label\.txt:4: pair 7 1 names a template absent"),
        ("pairs", lambda t: t + "1 2 3\n", r"template_pair_label\.txt:4: label 3"),
        ("pairs", lambda t: t.replace("1 5 0", "1 x 0"), r"template_pair_label\.txt:2: expected 3 fields"),
        ("pairs", lambda t: t.replace("1 5 0", "1 5"), r"template_pair_label\.txt:2: expected 3 fields"),
        ("pairs", lambda t: t.replace("1 5 0", "1 5.5 0"), r"template_pair_label\.txt:2: field 2 is 5\.5"),
        ("tid_mid", lambda t: t + "9.jpg 1 1\n", r"tid_mid\.txt:7: image 9\.jpg has no landmarks"),
        ("tid_mid", lambda t: t.replace("3.jpg", "3b.jpg"), r"5pts_score\.txt:4: image 3\.jpg has no entry"),
        ("5pts", lambda t: t + t.splitlines(keepends=True)[0], r"5pts_score\.txt:7: image 0\.jpg listed twice"),
        ("5pts", lambda t: "", r"5pts_score\.txt: empty file"),
    ],
)
def test_inconsistent_files_report_file_and_line(tmp_path: Path, which: str, edit, message: str) -> None:
    write_suite(tmp_path)
    with pytest.raises(ValueError, match=message):
        load_ijb_suite(_edited(tmp_path, which, edit), "IJBC")


def test_missing_files_and_bad_suite(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"ijbc_name_5pts_score\.txt"):
        load_ijb_suite(tmp_path, "IJBC")
    with pytest.raises(ValueError, match="unknown IJB suite"):
        meta_paths(tmp_path, "IJBA")


LISTS = {"gallery_1": ([1], [100]), "gallery_2": ([2], [200]), "probe": ([5], [100])}


def write_lists(root: Path, suite: str = "IJBC") -> None:
    write_identification_meta(root, suite, LISTS, NAMES, TEMPLATES)


def test_identification_lists_round_trip(tmp_path: Path) -> None:
    write_lists(tmp_path, "IJBB")
    paths = meta_paths(tmp_path, "IJBB")
    assert [paths[k].name for k in ("gallery_1", "gallery_2", "probe")] == [
        "ijbb_1N_gallery_S1.csv", "ijbb_1N_gallery_S2.csv", "ijbb_1N_probe_mixed.csv"]
    assert meta_paths(tmp_path, "IJBC")["gallery_2"].name == "ijbc_1N_gallery_G2.csv"
    assert paths["probe"].read_text().splitlines() == ["TEMPLATE_ID,SUBJECT_ID,FILENAME", "5,100,4.jpg", "5,100,5.jpg"]
    lists = load_identification_lists(tmp_path, "IJBB", np.array([1, 2, 5]))
    np.testing.assert_array_equal(lists.gallery_1[0], [1, 1])
    np.testing.assert_array_equal(lists.probe[1], [100, 100])


@pytest.mark.parametrize(
    ("which", "edit", "message"),
    [
        ("probe", lambda t: t + "7,100,x.jpg\n", r"probe_mixed\.csv:4: template 7 has no images in ijbc_face_tid_mid"),
        ("probe", lambda t: t.replace("5,100,5.jpg", "5,abc,5.jpg"), r"probe_mixed\.csv:3: template id and subject"),
        ("gallery_2", lambda t: t + "1,300,0.jpg\n", r"gallery_G2\.csv:4: template 1 is also in ijbc_1N_gallery_G1"),
        ("gallery_1", lambda t: t.splitlines(keepends=True)[0], r"gallery_G1\.csv: no template rows"),
        ("gallery_1", lambda t: "", r"gallery_G1\.csv: no template rows"),
        ("gallery_1", lambda t: "TEMPLATE_ID\n1\n", r"gallery_G1\.csv:2: expected template id and subject id"),
    ],
)
def test_bad_identification_lists_report_file_and_line(tmp_path: Path, which: str, edit, message: str) -> None:
    write_lists(tmp_path)
    with pytest.raises(ValueError, match=message):
        load_identification_lists(_edited(tmp_path, which, edit), "IJBC", np.array([1, 2, 5]))


def test_missing_identification_list(tmp_path: Path) -> None:
    write_lists(tmp_path)
    meta_paths(tmp_path, "IJBC")["probe"].unlink()
    with pytest.raises(FileNotFoundError, match=r"ijbc_1N_probe_mixed\.csv: IJB 1:N meta file not found"):
        load_identification_lists(tmp_path, "IJBC")
