"""Pure-Python MXNet RecordIO (.rec + .idx): framing, IRHeader, the insightface face layout, a torch Dataset.

No torch import: `x2softmax data check`, `pack` and `preflight` read and refuse a file without paying torch's
start-up (about 1.7 CPU-s); the Dataset follows torch's map-style protocol (`__len__`, `__getitem__`)."""

from __future__ import annotations

import contextlib
import math
import os
import struct
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from x2softmax.data.images import decode_image, decode_images
from x2softmax.io import atomic_write_text, give_default_mode, naming, temp_beside
from x2softmax.limits import limit

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_FRAME = struct.Struct("<II")
_IR_FORMAT = struct.Struct("<IfQQ")
IR_SIZE = _IR_FORMAT.size
_LENGTH_MASK = (1 << 29) - 1
# framing (8) + IRHeader (24) + two float32 labels (8): enough to read any face record's label.
_HEADER_PROBE = _FRAME.size + IR_SIZE + 8


class IRHeader(NamedTuple):
    """MXNet image record header: flag (number of vector labels, 0 for scalar), label, id, id2."""

    flag: int
    label: float | np.ndarray
    id: int
    id2: int


def pack_header(label: float | Sequence[float], id: int = 0, id2: int = 0) -> bytes:
    """IRHeader bytes (plus the float32 label vector when `label` is a sequence); append the payload after it."""
    if isinstance(label, (int, float, np.integer, np.floating)):
        return _IR_FORMAT.pack(0, float(label), id, id2)
    vector = np.asarray(label, dtype=np.float32).ravel()
    if vector.size == 0:
        raise ValueError("pack_header: an empty label vector cannot be encoded (flag 0 means a scalar label)")
    return _IR_FORMAT.pack(vector.size, 0.0, id, id2) + vector.tobytes()


def unpack_header(record: bytes) -> tuple[IRHeader, bytes]:
    """Split a record into its IRHeader (vector label as float32 array when flag > 0) and the payload."""
    if len(record) < IR_SIZE:
        raise ValueError(f"record of {len(record)} bytes is shorter than the {IR_SIZE}-byte IRHeader")
    flag, label, id_, id2 = _IR_FORMAT.unpack_from(record, 0)
    if flag == 0:
        return IRHeader(0, label, id_, id2), record[IR_SIZE:]
    end = IR_SIZE + 4 * flag
    if len(record) < end:
        raise ValueError(f"record of {len(record)} bytes too short for its {flag} float32 labels")
    vector = np.frombuffer(record, dtype=np.float32, count=flag, offset=IR_SIZE).copy()
    return IRHeader(flag, vector, id_, id2), record[end:]


def _lrecord(cflag: int, length: int) -> int:
    if length > _LENGTH_MASK:
        raise ValueError(f"record part of {length} bytes exceeds the RecordIO limit of {_LENGTH_MASK} bytes")
    return (cflag << 29) | length


def frame_record(record: bytes) -> bytes:
    """The on-disk bytes of one record: split at 4-aligned magic words (cflag 1/2/3), zero-padded to 4 bytes."""
    parts: list[bytes] = []
    start = 0
    aligned_end = len(record) & ~3
    pos = record.find(_MAGIC_BYTES)
    while 0 <= pos < aligned_end:
        if pos % 4 == 0:
            cflag = 1 if start == 0 else 2
            parts += [_FRAME.pack(MAGIC, _lrecord(cflag, pos - start)), record[start:pos]]
            start = pos + 4
        pos = record.find(_MAGIC_BYTES, pos + 1)
    tail = len(record) - start
    parts += [_FRAME.pack(MAGIC, _lrecord(3 if start else 0, tail)), record[start:], b"\0" * (-tail % 4)]
    return b"".join(parts)


class RecordIOWriter:
    """Write an indexed RecordIO pair atomically: temp files renamed onto rec/idx on a clean close."""

    def __init__(self, rec_path: str | os.PathLike[str], idx_path: str | os.PathLike[str]) -> None:
        self.rec_path = Path(rec_path)
        self.idx_path = Path(idx_path)
        self._offsets: dict[int, tuple[int, int]] = {}
        self._rec_tmp = temp_beside(self.rec_path)
        self._idx_tmp = temp_beside(self.idx_path)
        self._rec = open(self._rec_tmp, "w+b")
        self._pos = 0

    def __enter__(self) -> RecordIOWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, key: int, record: bytes) -> None:
        """Append one record under an integer key (keys must be unique)."""
        if self._rec.closed:
            raise ValueError(f"{self.rec_path}: writer is closed")
        if key in self._offsets:
            raise ValueError(f"{self.rec_path}: duplicate record key {key}")
        framed = frame_record(record)
        try:
            self._rec.write(framed)
        except OSError as err:
            raise naming(err, self.rec_path) from None
        self._offsets[int(key)] = (self._pos, len(framed))
        self._pos += len(framed)

    def rewrite(self, key: int, record: bytes) -> None:
        """Overwrite an already written record in place; its framed size must not change."""
        offset, size = self._offsets[key]
        framed = frame_record(record)
        if len(framed) != size:
            raise ValueError(f"{self.rec_path}: rewrite of key {key} changes its size ({size} -> {len(framed)} bytes)")
        self._rec.seek(offset)
        self._rec.write(framed)
        self._rec.seek(self._pos)

    def close(self) -> None:
        """Flush, write the .idx and rename both temp files onto their targets."""
        if self._rec.closed:
            return
        target = self.rec_path
        try:
            self._rec.close()
            lines = "".join(f"{key}\t{offset}\n" for key, (offset, _) in self._offsets.items())
            target = self.idx_path
            self._idx_tmp.write_text(lines, encoding="ascii")
            for tmp in (self._rec_tmp, self._idx_tmp):  # readable by the group/others as the umask allows
                give_default_mode(tmp)
            os.replace(self._rec_tmp, self.rec_path)
            os.replace(self._idx_tmp, self.idx_path)
        except OSError as err:
            raise naming(err, target) from None
        finally:
            self._remove_temps()

    def abort(self) -> None:
        """Discard everything written; the targets are left untouched."""
        with contextlib.suppress(OSError):  # flushing may fail again (disk full): the data is discarded anyway
            self._rec.close()
        self._remove_temps()

    def _remove_temps(self) -> None:
        for tmp in (self._rec_tmp, self._idx_tmp):
            tmp.unlink(missing_ok=True)


def _read_index(idx_path: Path, rec_size: int) -> dict[int, int]:
    offsets: dict[int, int] = {}
    try:
        text = idx_path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise FileNotFoundError(f"{idx_path}: RecordIO index not found") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{idx_path}: not a text index ({err})") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            fields = line.split()
        try:
            key, offset = int(fields[0]), int(fields[1])
            if len(fields) != 2:
                raise ValueError
        except (ValueError, IndexError):
            raise ValueError(f"{idx_path}:{lineno}: expected 'key<TAB>offset', got {line!r}") from None
        if not 0 <= offset < rec_size:
            raise ValueError(f"{idx_path}:{lineno}: offset {offset} of key {key} is outside the {rec_size}-byte .rec")
        if key in offsets:
            raise ValueError(f"{idx_path}:{lineno}: duplicate key {key}")
        offsets[key] = offset
    return offsets


class IndexedRecordIO:
    """Random-access RecordIO reader; each process (DataLoader worker) opens its own file descriptor lazily."""

    def __init__(self, rec_path: str | os.PathLike[str], idx_path: str | os.PathLike[str]) -> None:
        self.rec_path = Path(rec_path)
        self.idx_path = Path(idx_path)
        if not self.rec_path.is_file():
            raise FileNotFoundError(f"{self.rec_path}: RecordIO file not found")
        self.size = self.rec_path.stat().st_size
        self._offsets = _read_index(self.idx_path, self.size)
        self.keys: list[int] = list(self._offsets)
        self._fd: int | None = None
        self._pid: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_fd"] = None
        state["_pid"] = None
        return state

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Close this process's descriptor (reopened on the next read)."""
        if getattr(self, "_fd", None) is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    def __len__(self) -> int:
        return len(self.keys)

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.rec_path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            self._pid = os.getpid()
        return self._fd

    def __contains__(self, key: int) -> bool:
        return key in self._offsets

    def offset(self, key: int) -> int:
        """Byte offset of a record's start in the .rec file."""
        try:
            return self._offsets[key]
        except KeyError:
            raise KeyError(f"{self.idx_path}: no record with key {key}") from None

    def _frame_at(self, fd: int, pos: int, key: int) -> tuple[int, int]:
        head = os.pread(fd, _FRAME.size, pos)
        if len(head) < _FRAME.size:
            raise ValueError(f"{self.rec_path}: truncated record header at byte offset {pos} (key {key})")
        magic, lrecord = _FRAME.unpack(head)
        if magic != MAGIC:
            raise ValueError(
                f"{self.rec_path}: bad magic 0x{magic:08X} at byte offset {pos} (key {key}); "
                "the .idx does not match the .rec or the file is corrupt"
            )
        length = lrecord & _LENGTH_MASK
        if pos + _FRAME.size + length > self.size:  # refused before a buffer of `length` bytes is allocated
            raise ValueError(f"{self.rec_path}: truncated record at byte offset {pos} (key {key}): {length} bytes "
                             f"declared, {max(0, self.size - pos - _FRAME.size)} present")
        return lrecord >> 29, length

    def read(self, key: int) -> bytes:
        """The record stored under `key`, split parts re-joined with the magic word."""
        fd = self._descriptor()
        pos = self.offset(key)
        parts: list[bytes] = []
        while True:
            cflag, length = self._frame_at(fd, pos, key)
            if (cflag in (2, 3)) != bool(parts):
                raise ValueError(
                    f"{self.rec_path}: continuation flag {cflag} out of sequence at byte offset {pos} (key {key})"
                )
            data = os.pread(fd, length, pos + _FRAME.size)
            if len(data) < length:
                raise ValueError(
                    f"{self.rec_path}: truncated record at byte offset {pos} (key {key}): "
                    f"{length} bytes declared, {len(data)} present"
                )
            parts.append(data)
            if cflag in (0, 3):
                return _MAGIC_BYTES.join(parts)
            pos += _FRAME.size + length + (-length % 4)

    def read_header(self, key: int) -> IRHeader:
        """The IRHeader of a record, reading only its first bytes when the record is not split."""
        fd = self._descriptor()
        pos = self.offset(key)
        probe = os.pread(fd, _HEADER_PROBE, pos)
        if len(probe) >= _FRAME.size:
            magic, lrecord = _FRAME.unpack_from(probe, 0)
            cflag, length = lrecord >> 29, lrecord & _LENGTH_MASK
            if magic == MAGIC and cflag == 0:
                body = probe[_FRAME.size : _FRAME.size + length]
                try:
                    return unpack_header(body)[0]
                except ValueError:
                    pass  # labels longer than the probe: fall back to the full record
        return self.unpack(key)[0]

    def unpack(self, key: int, record: bytes | None = None) -> tuple[IRHeader, bytes]:
        """IRHeader and payload of the record under `key` (of `record` if already read)."""
        if record is None:
            record = self.read(key)
        try:
            return unpack_header(record)
        except ValueError as err:
            raise ValueError(f"{self.rec_path}: record {key} at byte offset {self.offset(key)}: {err}") from None


def _class_of(header: IRHeader, rec_path: Path, key: int) -> int:
    """The class id of image record `key` (int() of its first label, as insightface reads it)."""
    label = header.label
    value = float(label[0]) if isinstance(label, np.ndarray) and label.size else float(label)
    if not (math.isfinite(value) and 0 <= value < 2**31):
        raise ValueError(f"{rec_path} key {key}: label {value!r} is not a class id (corrupt record header)")
    return int(value)


def read_property(path: Path) -> tuple[int, int, int]:
    """Parse an insightface `property` file: `num_classes,height,width`."""
    try:
        text = path.read_text(encoding="ascii").strip()
        fields = [int(v) for v in text.split(",")]
        if len(fields) != 3 or min(fields) <= 0:
            raise ValueError
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: property file not found") from None
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"{path}: expected 'num_classes,height,width' with positive integers") from None
    return fields[0], fields[1], fields[2]


def write_face_recordio(
    out_dir: Path, samples: Iterable[tuple[int, bytes]], num_classes: int, image_size: int = 112
) -> Path:
    """Write (class_id, encoded image) samples, grouped by increasing class id, in the insightface layout."""
    out_dir = Path(out_dir)
    if num_classes <= 0:
        raise ValueError(f"write_face_recordio: num_classes must be positive, got {num_classes}")
    starts = np.full(num_classes + 1, -1, dtype=np.int64)
    with RecordIOWriter(out_dir / "train.rec", out_dir / "train.idx") as writer:
        writer.write(0, pack_header([0.0, 0.0]))  # placeholder, same size as the final header record
        key, previous = 1, -1
        for class_id, payload in samples:
            class_id = int(class_id)
            if not 0 <= class_id < num_classes:
                raise ValueError(f"write_face_recordio: class id {class_id} outside [0, {num_classes})")
            if class_id < previous:
                raise ValueError(
                    f"write_face_recordio: samples must be grouped by increasing class id ({class_id} after {previous})"
                )
            if class_id != previous:
                starts[previous + 1 : class_id + 1] = key
                previous = class_id
            writer.write(key, pack_header([float(class_id), 1.0]) + payload)
            key += 1
        n_images = key - 1
        starts[previous + 1 :] = key
        for class_id in range(num_classes):
            writer.write(n_images + 1 + class_id, pack_header([float(starts[class_id]), float(starts[class_id + 1])]))
        writer.rewrite(0, pack_header([float(n_images + 1), float(n_images + 1 + num_classes)]))
    atomic_write_text(out_dir / "property", f"{num_classes},{image_size},{image_size}\n")
    return out_dir


class FaceRecordIO:
    """High-level reader of a face training set directory (train.rec/.idx/property), insightface or im2rec."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        self.rec = IndexedRecordIO(self.dir / "train.rec", self.dir / "train.idx")
        if not self.rec.keys:
            raise ValueError(f"{self.rec.idx_path}: empty index")
        first = self.rec.read_header(0) if 0 in self.rec else None
        self._identity_keys: list[int] = []
        if first is not None and first.flag > 0:
            label = np.asarray(first.label)
            if label.size < 2 or not 1 <= label[0] <= label[1]:
                raise ValueError(f"{self.rec.rec_path}: header record 0 has invalid label {label.tolist()}")
            n_end, c_end = int(label[0]), int(label[1])
            if c_end - 1 > len(self.rec.keys):  # checked before any list of keys is built
                raise ValueError(f"{self.rec.rec_path}: header record 0 announces keys 1..{c_end - 1} but the index "
                                 f"{self.rec.idx_path} lists {len(self.rec.keys)} records")
            self.image_keys = list(range(1, n_end))
            self._identity_keys = list(range(n_end, c_end))
            missing = [k for k in self.image_keys + self._identity_keys if k not in self.rec]
            if missing:
                raise ValueError(
                    f"{self.rec.idx_path}: header record 0 announces keys 1..{c_end - 1} but {len(missing)} are "
                    f"missing from the index (first: {missing[0]})"
                )
        else:
            self.image_keys = list(self.rec.keys)
        self._labels: np.ndarray | None = None
        prop = self.dir / "property"
        if prop.exists():
            self.num_classes, height, width = read_property(prop)
            if height != width:
                raise ValueError(f"{prop}: non-square images {height}x{width} are not supported")
            if self.num_classes > limit("X2S_MAX_CLASSES"):  # the classifier head is allocated from it
                raise ValueError(f"{prop}: declares {self.num_classes} classes, more than X2S_MAX_CLASSES="
                                 f"{limit('X2S_MAX_CLASSES')} (docs/limits.md)")
            if height * width > limit("X2S_MAX_IMAGE_PIXELS"):
                raise ValueError(f"{prop}: declares {height}x{width} images, more than X2S_MAX_IMAGE_PIXELS allows")
            self.image_size = height
        else:
            self.num_classes = int(self.labels.max()) + 1 if len(self) else 0
            self.image_size = self.image(0).shape[0]

    def __len__(self) -> int:
        return len(self.image_keys)

    @property
    def has_identity_records(self) -> bool:
        """Whether the file carries insightface identity records (keys N+1..N+C)."""
        return bool(self._identity_keys)

    @property
    def labels(self) -> np.ndarray:
        """Class id of every image (int64 [N]), read from the record headers once."""
        if self._labels is None:
            self._labels = np.fromiter(
                (_class_of(self.rec.read_header(k), self.rec.rec_path, k) for k in self.image_keys),
                dtype=np.int64, count=len(self),
            )
        return self._labels

    def encoded(self, i: int) -> bytes:
        """The encoded (JPEG/PNG) bytes of image i."""
        key = self.image_keys[i]
        return self.rec.unpack(key)[1]

    def image(self, i: int) -> np.ndarray:
        """Image i decoded to RGB uint8 HWC."""
        key = self.image_keys[i]
        return decode_image(self.encoded(i), source=f"{self.rec.rec_path} key {key}")

    def identity_ranges(self) -> np.ndarray:
        """[C, 2] int64 image-index ranges [start, end) per class (from identity records or the labels)."""
        if self.has_identity_records:
            ranges = np.array(
                [np.asarray(self.rec.read_header(k).label[:2]) for k in self._identity_keys], dtype=np.int64
            ).reshape(-1, 2)
            return ranges - 1  # record keys 1..N are image indices 0..N-1
        labels = self.labels
        classes = np.arange(self.num_classes)
        return np.stack([np.searchsorted(labels, classes, "left"), np.searchsorted(labels, classes, "right")], 1)


def load_face_arrays(directory: Path, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode every image of a face RecordIO into memory: uint8 [N, H, W, 3] RGB and int64 labels [N]."""
    reader = FaceRecordIO(directory)
    rec = reader.rec
    data = memoryview(rec.rec_path.read_bytes())
    labels = np.empty(len(reader), dtype=np.int64)
    payloads: list[bytes | memoryview] = []
    for i, key in enumerate(reader.image_keys):
        pos = rec.offset(key)
        magic, lrecord = _FRAME.unpack_from(data, pos) if pos + _FRAME.size <= len(data) else (0, 0)
        end = pos + _FRAME.size + (lrecord & _LENGTH_MASK)
        if magic == MAGIC and lrecord >> 29 == 0 and end <= len(data):
            record: bytes | memoryview = data[pos + _FRAME.size : end]
        else:
            record = rec.read(key)  # split, corrupt or truncated: the checked path re-joins or raises precisely
        header, payload = rec.unpack(key, record)
        labels[i] = _class_of(header, rec.rec_path, key)
        payloads.append(payload)
    side = size or reader.image_size
    return decode_images(payloads, size=side, source=str(rec.rec_path), keys=reader.image_keys), labels


class RecordIODataset:
    """Map-style torch Dataset over a face RecordIO (a DataLoader takes it as is): (RGB uint8 HWC image or
    transform(image), class id)."""

    def __init__(self, directory: str | os.PathLike[str], transform: Callable[[np.ndarray], Any] | None = None):
        self.reader = FaceRecordIO(directory)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        key = self.reader.image_keys[i]
        header, payload = self.reader.rec.unpack(key)
        img = decode_image(payload, source=f"{self.reader.rec.rec_path} key {key}")
        label = _class_of(header, self.reader.rec.rec_path, key)
        return (self.transform(img) if self.transform else img), label
