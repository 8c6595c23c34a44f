"""Dataset registry, dataset checks (every image decoded), fetching into a data root, hashes and preflight."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from x2softmax.data.archives import download, extract_archive, gdrive_download, integrity_problem
from x2softmax.data.images import decode_image
from x2softmax.data.pairs import read_bin
from x2softmax.data.recordio import MAGIC, FaceRecordIO, read_property, unpack_header
from x2softmax.data.registry import load_registry
from x2softmax.io import atomic_write_json, file_sha256
from x2softmax.vocabulary import IJB_SUITES

SAMPLE_IMAGES = 8


def _entry(name: str) -> dict:
    registry = load_registry()
    if name not in registry:
        raise KeyError(f"unknown dataset {name!r}; the registry knows {sorted(registry)}")
    return registry[name]


def dataset_path(name: str, root: Path) -> Path:
    """Where a registered dataset lives under a data root."""
    return Path(root) / _entry(name)["path"]


def instructions(name: str, root: Path) -> str:
    """The registry's manual instructions for one dataset, with the real paths filled in."""
    entry = _entry(name)
    path = dataset_path(name, root)
    text = entry["manual"].format(path=path, root=Path(root), filename=path.name)
    return " ".join(text.split())


# ------------------------------------------------------------------------------------------------------ checks


def _indices(n: int, sample: int | None) -> list[int]:
    """Every index, or `sample` of them spread evenly (first and last included)."""
    if sample is None or sample >= n:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, sample)}) if n else []


def _decoded(n: int, sample: int | None) -> str:
    count = len(_indices(n, sample))
    return f"all {count} images decoded" if count == n else f"{count} of {n} images sampled and decoded"


def _decode_all(indices: list[int], decode: Any, what: str) -> list[tuple[int, tuple[int, ...]]]:
    """Decode the images at `indices` with a progress bar; (index, shape) of each (decode errors name the record)."""
    shapes = []
    for i in tqdm(indices, desc=f"check {what}", unit="img", file=sys.stderr, mininterval=2.0,
                  disable=len(indices) < 1000):
        shapes.append((i, decode(i).shape[:2]))
    return shapes


def _check_recordio(path: Path, expect: dict | None, sample: int | None) -> str:
    reader = FaceRecordIO(path)
    n, classes = len(reader), reader.num_classes
    if n == 0:
        raise ValueError(f"{path}: no images")
    labels = reader.labels
    rec = path / "train.rec"
    if labels.min() < 0 or labels.max() >= classes:
        bad = int(np.argmax((labels < 0) | (labels >= classes)))
        raise ValueError(f"{rec}: image {bad} has label {labels[bad]} outside [0, {classes}) of property")
    counts = np.bincount(labels, minlength=classes)
    if reader.has_identity_records:
        if np.any(np.diff(labels) < 0):
            raise ValueError(f"{rec}: images are not grouped by increasing class id")
        ranges = reader.identity_ranges()
        if len(ranges) != classes or not np.array_equal(ranges[:, 1] - ranges[:, 0], counts):
            raise ValueError(f"{rec}: identity records disagree with the image labels")
    side = (reader.image_size, reader.image_size)
    wrong = [(i, s) for i, s in _decode_all(_indices(n, sample), reader.image, rec.name) if s != side]
    if wrong:
        i, (h, w) = wrong[0]
        raise ValueError(f"{rec}: {len(wrong)} images are not {side[1]}x{side[0]} as property says (first: key "
                         f"{reader.image_keys[i]} is {w}x{h})")
    _compare(path, {"num_images": n, "num_classes": classes, "image_size": reader.image_size}, expect)
    return (
        f"{path}: RecordIO, {n} images, {classes} classes ({counts.min()}-{counts.max()} images/class), "
        f"{reader.image_size}x{reader.image_size}, {_decoded(n, sample)}"
    )


def _check_bin(path: Path, expect: dict | None, sample: int | None) -> str:
    bins, issame = read_bin(path)
    if not bins:
        raise ValueError(f"{path}: no pairs")
    shapes = _decode_all(_indices(len(bins), sample),
                         lambda i: decode_image(bins[i], source=f"{path} image {i}"), path.name)
    sizes = sorted({s for _, s in shapes})
    if len(sizes) > 1:
        raise ValueError(f"{path}: images differ in size: {sizes}")
    ((height, width),) = sizes
    _compare(path, {"pairs": len(issame), "image_size": height if height == width else None}, expect)
    return (
        f"{path}: verification set, {len(issame)} pairs ({int(issame.sum())} same), {width}x{height} images, "
        f"{_decoded(len(bins), sample)}"
    )


def _check_ijb(path: Path, expect: dict | None, sample: int | None) -> str:
    # pandas (x2softmax.data.ijb) is imported only where an IJB suite is read: a .bin or RecordIO check starts without
    from x2softmax.data.ijb import load_identification_lists, load_ijb_suite, meta_paths

    suite_name = next((s for s in IJB_SUITES if meta_paths(path, s)["5pts"].exists()), None)
    if suite_name is None:
        raise ValueError(f"{path}: no meta/ijbb_* or meta/ijbc_* files")
    suite = load_ijb_suite(path, suite_name)
    crop = path / "loose_crop"
    if not crop.is_dir():
        raise ValueError(f"{crop}: image folder missing")
    present = {entry.name for entry in os.scandir(crop)}
    absent = [name for name in suite.names if name not in present]
    if absent:
        raise ValueError(f"{crop}: {len(absent)} of {len(suite.names)} listed images missing (first: {absent[0]})")
    _decode_all(_indices(len(suite.names), sample),
                lambda i: decode_image(suite.image_path(i).read_bytes(), source=str(suite.image_path(i))), crop.name)
    lists = load_identification_lists(path, suite_name, np.unique(suite.template_ids))
    found = {
        "images": len(suite.names),
        "templates": len(np.unique(suite.template_ids)),
        "pairs": len(suite.labels),
        "genuine": int(suite.labels.sum()),
        "gallery_templates": len(np.unique(lists.gallery_1[0])) + len(np.unique(lists.gallery_2[0])),
        "probe_templates": len(np.unique(lists.probe[0])),
    }
    _compare(path, found, expect)
    return (
        f"{path}: {suite_name} suite, {found['images']} images, {found['templates']} templates, {found['pairs']} pairs "
        f"({found['genuine']} genuine), 1:N {found['gallery_templates']} gallery and {found['probe_templates']} "
        f"probe templates, {_decoded(found['images'], sample)}"
    )


def _compare(path: Path, found: dict[str, Any], expect: dict | None) -> None:
    for key, want in (expect or {}).items():
        if want is not None and key in found and found[key] != want:
            raise ValueError(f"{path}: {key} is {found[key]}, the complete dataset has {want}")


def check_dataset(path: Path, expect: dict | None = None, sample: int | None = None) -> str:
    """Validate a RecordIO dir, a .bin file or an IJB suite (counts, labels, and every image decoded, or `sample`
    of them spread evenly); return a summary that says which."""
    path = Path(path)
    if path.is_file() and path.suffix == ".bin":
        return _check_bin(path, expect, sample)
    if (path / "train.rec").is_file():
        return _check_recordio(path, expect, sample)
    if (path / "meta").is_dir():
        return _check_ijb(path, expect, sample)
    if not path.exists():
        raise ValueError(f"{path}: does not exist")
    raise ValueError(f"{path}: neither a RecordIO directory (train.rec), a .bin file nor an IJB suite (meta/)")


# -------------------------------------------------------------------------------------------- hashes and fetch


def _manifest_path(name: str, root: Path) -> Path:
    return Path(root) / f"{name}.sha256.json"


def _dataset_files(name: str, root: Path) -> list[Path]:
    from x2softmax.data.ijb import meta_paths  # pandas: only where an IJB suite is read

    entry, path = _entry(name), dataset_path(name, root)
    if entry["kind"] == "recordio":
        return [path / f for f in entry["files"]]
    if entry["kind"] == "bin":
        return [path]
    return sorted(meta_paths(path, entry["suite"]).values())


def record_hashes(name: str, root: Path, archive: Path | None = None) -> Path:
    """Write {root}/{name}.sha256.json: sha256 and size of the dataset's files (and of the fetched archive)."""
    root = Path(root)
    files = {str(p.relative_to(root)): {"sha256": file_sha256(p), "size": p.stat().st_size}
             for p in _dataset_files(name, root)}
    record: dict[str, Any] = {"dataset": name, "files": files}
    if archive is not None:
        record["archive"] = {"name": archive.name, "sha256": file_sha256(archive), "size": archive.stat().st_size}
    target = _manifest_path(name, root)
    atomic_write_json(target, record)
    return target


def verify_hashes(name: str, root: Path, full: bool = True) -> list[str]:
    """Compare the dataset's files with its recorded hashes (sizes only unless `full`); one line per mismatch."""
    manifest = _manifest_path(name, root)
    if not manifest.exists():
        return []
    problems = []
    for relative, want in json.loads(manifest.read_text())["files"].items():
        path = Path(root) / relative
        if not path.exists():
            problems.append(f"{path}: missing (recorded in {manifest.name})")
        elif path.stat().st_size != want["size"]:
            problems.append(f"{path}: {path.stat().st_size} bytes, {manifest.name} recorded {want['size']}")
        elif full and file_sha256(path) != want["sha256"]:
            problems.append(f"{path}: sha256 differs from {manifest.name}; the copy is corrupt or a different release")
    return problems


def _refuse_links(folder: Path) -> None:
    """Files of a source folder are copied: a symbolic link in it (to a system file?) is refused."""
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            if (Path(dirpath) / name).is_symlink():
                raise ValueError(f"{Path(dirpath) / name}: a symbolic link in the source folder {folder}; "
                                 "datasets are copied, never linked: put the real file there")


def _stage_file(src: Path, dst: Path, move: bool) -> None:
    """One file into the staging folder: moved out of our own extraction, else copied (never linked)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if move:
        os.replace(src, dst)
    else:
        shutil.copyfile(src, dst)


def _stage_training_set(found_in: Path, stage: Path, entry: dict, move: bool) -> list[tuple[Path, Path]]:
    """Stage the training set (and the .bin sets beside it); each staged path relative to `stage`, with its source."""
    recs = sorted(found_in.rglob("train.rec"))
    if not recs:
        raise ValueError(f"{found_in}: no train.rec inside; expected insightface's archive layout")
    if len(recs) > 1:
        raise ValueError(f"{found_in}: {len(recs)} train.rec files ({recs[0]}, {recs[1]}); expected exactly one")
    src = recs[0].parent
    for name in entry["files"]:
        if not (src / name).is_file():
            raise ValueError(f"{src}: {name} missing beside train.rec")
        _stage_file(src / name, stage / entry["path"] / name, move)
    bins = sorted(src.glob("*.bin"))
    for bin_file in bins:
        _stage_file(bin_file, stage / "val" / bin_file.name, move)
    return [(Path(entry["path"]), src)] + [(Path("val") / b.name, b) for b in bins]


def _stage_ijb(found_in: Path, stage: Path, entry: dict, move: bool) -> list[tuple[Path, Path]]:
    """Stage an IJB suite folder; the staged path relative to `stage`, with its source."""
    suite = entry["suite"]
    marker = f"{suite.lower()}_name_5pts_score.txt"
    hits = [p.parent.parent for p in found_in.rglob(marker) if p.parent.name == "meta"]
    if not hits:
        raise ValueError(f"{found_in}: no {suite}/meta/{suite.lower()}_name_5pts_score.txt inside")
    if len(hits) > 1:
        raise ValueError(f"{found_in}: {len(hits)} copies of {suite}/meta ({hits[0]}, {hits[1]}); expected one")
    for src in sorted(p for p in hits[0].rglob("*") if p.is_file()):
        _stage_file(src, stage / entry["path"] / src.relative_to(hits[0]), move)
    return [(Path(entry["path"]), hits[0])]


def _swap_in(staged: Path, target: Path, trash: Path) -> None:
    """Replace `target` by `staged` (same file system): a file atomically, a folder by two renames."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if staged.is_file() or not target.exists():
        os.replace(staged, target)
        return
    trash.mkdir(parents=True, exist_ok=True)
    old = trash / target.name
    os.replace(target, old)
    try:
        os.replace(staged, target)
    except OSError:
        os.replace(old, target)
        raise


def _text(err: BaseException) -> str:
    """An exception's message (a KeyError's without the quotes str() adds)."""
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)


def _install(found_in: Path, root: Path, tmp: Path, entry: dict, expect: dict | None, move: bool) -> str:
    """Stage the dataset beside the installed copy, check every staged dataset, then swap each in; a failed
    check leaves what was installed untouched."""
    if entry["kind"] != "recordio" and (root / entry["path"]).exists():
        raise ValueError(f"{root / entry['path']}: already exists; move it away to install a new copy")
    stage = tmp / "stage"
    stage_fn = _stage_training_set if entry["kind"] == "recordio" else _stage_ijb
    staged = stage_fn(found_in, stage, entry, move)
    try:
        reports = [check_dataset(stage / staged[0][0], expect, SAMPLE_IMAGES)]
        reports += [check_dataset(stage / extra, None, SAMPLE_IMAGES) for extra, _ in staged[1:]]
    except (ValueError, OSError, KeyError) as err:  # named by where the user's files came from, not the staging copy
        message = _text(err)
        for relative, src in sorted(staged, key=lambda pair: -len(str(pair[0]))):
            message = message.replace(str(stage / relative), str(src))
        raise ValueError(message) from None
    for relative, _ in staged:
        _swap_in(stage / relative, root / relative, tmp / "replaced")
    return "\n".join(report.replace(str(stage), str(root)) for report in reports)


def _in_archive_terms(err: BaseException, archive: Path, unpacked: Path, root: Path) -> str:
    """A failure met while unpacking or checking `archive`, told in the user's terms: "ARCHIVE: ..., member
    'a/train.idx'" rather than the path of its unpacked copy in a hidden staging folder of the data root."""
    message = _text(err)
    message = message.removeprefix(f"{unpacked}: ")
    message = re.sub(re.escape(str(unpacked)) + r"/([^\s:,;()'\"]+)", lambda m: f"member '{m.group(1)}'", message)
    message = message.replace(str(unpacked), str(root))  # the folder itself: the data root's file system
    return message if message.startswith(str(archive)) else f"{archive}: {message}"


def fetch_dataset(name: str, root: Path, source: str | None = None) -> Path:
    """Make a registered dataset present and valid under root from a source: gdrive, an http(s) URL or a local path."""
    entry, root = _entry(name), Path(root)
    path = dataset_path(name, root)
    expect = None if (root / "MANIFEST.json").exists() else entry.get("expect")  # synthetic roots are small
    if not source and not preflight([name], root):
        if _manifest_path(name, root).exists():
            problems = verify_hashes(name, root)
            if problems:
                raise ValueError("; ".join(problems))
        else:
            print(check_dataset(path, expect, SAMPLE_IMAGES), file=sys.stderr)
            record_hashes(name, root)
        return path
    if "from" in entry:
        fetch_dataset(entry["from"], root, source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: not in the {entry['from']} archive. {instructions(name, root)}")
        print(check_dataset(path, expect, SAMPLE_IMAGES), file=sys.stderr)
        record_hashes(name, root)
        return path
    source = source or ("gdrive" if "gdrive" in entry.get("sources", {}) else "manual")
    archive: Path | None = None
    if source in ("manual", "baidu"):
        raise RuntimeError(f"{name} must be fetched by hand: {instructions(name, root)}")
    if source == "gdrive":
        gdrive = entry.get("sources", {}).get("gdrive")
        if not gdrive:
            raise RuntimeError(f"{name} has no Google Drive source: {instructions(name, root)}")
        archive = gdrive_download(gdrive["id"], root / "downloads" / entry.get("archive", f"{name}.zip"),
                                   entry.get("sha256"))
    elif source.startswith(("http://", "https://")):
        archive = download(source, root / "downloads" / source.rstrip("/").rsplit("/", 1)[-1], entry.get("sha256"))
    else:
        local = Path(source).expanduser()
        if not local.exists():
            raise FileNotFoundError(f"{local}: source for {name} not found")
        archive = local if local.is_file() else None
        problem = None if archive is None else integrity_problem(archive, entry.get("sha256"))
        if problem is not None:
            raise ValueError(f"{archive}: not accepted for {name}: {problem}")
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}.") as tmp:
        unpacked = Path(tmp) / "unpacked" if archive is not None else Path(source)
        if archive is None:
            _refuse_links(unpacked)
            print(_install(unpacked, root, Path(tmp), entry, expect, move=False), file=sys.stderr)
        else:
            try:
                extract_archive(archive, unpacked)
                print(_install(unpacked, root, Path(tmp), entry, expect, move=True), file=sys.stderr)
            except (ValueError, OSError, KeyError) as err:
                raise ValueError(_in_archive_terms(err, archive, unpacked, root)) from None
    record_hashes(name, root, archive)
    return path


# ---------------------------------------------------------------------------------------------------- preflight


def _quick_recordio(path: Path, entry: dict, strict: bool) -> str | None:
    for name in entry["files"]:
        if not (path / name).is_file() or (path / name).stat().st_size == 0:
            return f"{path / name}: missing or empty"
    num_classes, height, _ = read_property(path / "property")
    with open(path / "train.idx", encoding="ascii", errors="replace") as fh:
        first = fh.readline().split()
    if len(first) != 2 or not first[1].isdigit():
        return f"{path / 'train.idx'}:1: expected 'key<TAB>offset', got {' '.join(first)!r}"
    rec_size = (path / "train.rec").stat().st_size
    if int(first[1]) >= rec_size:  # checked before seeking (a huge offset is an OverflowError there)
        return f"{path / 'train.idx'}:1: offset {first[1]} of key {first[0]} is outside the {rec_size}-byte .rec"
    with open(path / "train.rec", "rb") as fh:
        fh.seek(int(first[1]))
        head = fh.read(8 + 24 + 8)
    if len(head) < 8 or struct.unpack_from("<I", head)[0] != MAGIC:
        return f"{path / 'train.rec'}: no RecordIO magic at byte offset {first[1]} (key {first[0]} of train.idx)"
    if not strict or first[0] != "0":
        return None
    header, _ = unpack_header(head[8:])
    expect = entry.get("expect", {})
    found = {"num_classes": num_classes, "image_size": height}
    if header.flag > 0:
        found["num_images"] = int(header.label[0]) - 1
    for key, want in expect.items():
        if want is not None and key in found and found[key] != want:
            return f"{path}: {key} is {found[key]}, the complete dataset has {want} (incomplete or different release)"
    return None


def _quick_bin(path: Path) -> str | None:
    if not path.is_file() or path.stat().st_size == 0:
        return f"{path}: missing or empty"
    with open(path, "rb") as fh:
        first = fh.read(2)
    if first[:1] != b"\x80" and first[:1] not in (b"(", b"]"):
        return f"{path}: not a pickle (starts with {first!r})"
    return None


def _quick_ijb(path: Path, entry: dict) -> str | None:
    from x2softmax.data.ijb import meta_paths  # pandas: only where an IJB suite is read

    for meta in meta_paths(path, entry["suite"]).values():
        if not meta.is_file() or meta.stat().st_size == 0:
            return f"{meta}: missing or empty"
    crop = path / "loose_crop"
    if not crop.is_dir() or next(os.scandir(crop), None) is None:
        return f"{crop}: missing or empty"
    return None


def preflight(names: Sequence[str], root: Path) -> list[str]:
    """One problem line (with what to put where) per missing or invalid dataset; [] when all are present."""
    root = Path(root)
    strict = not (root / "MANIFEST.json").exists()  # synthetic roots are small by design: skip full-size counts
    problems = []
    for name in names:
        entry, path = _entry(name), dataset_path(name, root)
        try:
            if entry["kind"] == "recordio":
                problem = _quick_recordio(path, entry, strict)
            elif entry["kind"] == "bin":
                problem = _quick_bin(path)
            else:
                problem = _quick_ijb(path, entry)
            problem = problem or next(iter(verify_hashes(name, root, full=False)), None)
        except (OSError, ValueError) as err:
            problem = str(err)
        if problem:
            problems.append(f"{name}: {problem}. {instructions(name, root)}")
    return problems
