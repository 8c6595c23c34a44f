"""IJB-B / IJB-C meta files (insightface IJB_release layout): write, parse and cross-validate.

1:1: `{suite}_face_tid_mid.txt`, `{suite}_name_5pts_score.txt`, `{suite}_template_pair_label.txt` (space separated).
1:N: two galleries and the mixed probes (`ijbc_1N_gallery_G1.csv`, `..._G2.csv`, `ijbc_1N_probe_mixed.csv`; IJB-B:
`ijbb_1N_gallery_S1.csv`, `..._S2.csv`, `ijbb_1N_probe_mixed.csv`): CSV with one header row, template id and
subject id in the first two columns, several rows per template (insightface ``extract_gallery_prob_data``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from x2softmax.io import atomic_write_text
from x2softmax.vocabulary import IJB_SUITES

if TYPE_CHECKING:
    import pandas as pd



@dataclass
class IJBSuite:
    """One IJB suite's meta data, in the order of its `*_name_5pts_score.txt` file."""

    names: list[str]
    template_ids: np.ndarray  # int64 [N]
    media_ids: np.ndarray  # int64 [N]
    landmarks: np.ndarray  # float32 [N, 5, 2], loose_crop pixel coordinates
    faceness: np.ndarray  # float32 [N]
    pairs: np.ndarray  # int64 [M, 2] template ids
    labels: np.ndarray  # uint8 [M], 1 genuine, 0 impostor
    root: Path | None = None
    suite: str = ""

    def image_path(self, i: int) -> Path:
        """Path of image i under `{root}/loose_crop/`."""
        if self.root is None:
            raise ValueError("IJBSuite.image_path: the suite was built without a root directory")
        return self.root / "loose_crop" / self.names[i]


def _prefix(suite: str) -> str:
    if suite.upper() not in IJB_SUITES:
        raise ValueError(f"unknown IJB suite {suite!r}; expected one of {IJB_SUITES}")
    return suite.lower()


IDENTIFICATION_FILES = ("gallery_1", "gallery_2", "probe")  # meta_paths' keys of the three 1:N files
_GALLERY_NAMES = {"ijbb": ("S1", "S2"), "ijbc": ("G1", "G2")}


def meta_paths(root: Path, suite: str) -> dict[str, Path]:
    """The six meta files of a suite: 1:1 `tid_mid`, `5pts`, `pairs`; 1:N `gallery_1`, `gallery_2`, `probe`."""
    prefix = _prefix(suite)
    meta = Path(root) / "meta"
    first, second = _GALLERY_NAMES[prefix]
    return {
        "tid_mid": meta / f"{prefix}_face_tid_mid.txt",
        "5pts": meta / f"{prefix}_name_5pts_score.txt",
        "pairs": meta / f"{prefix}_template_pair_label.txt",
        "gallery_1": meta / f"{prefix}_1N_gallery_{first}.csv",
        "gallery_2": meta / f"{prefix}_1N_gallery_{second}.csv",
        "probe": meta / f"{prefix}_1N_probe_mixed.csv",
    }


def write_ijb_meta(
    root: Path,
    suite: str,
    images: Sequence[str],
    template_ids: Sequence[int] | np.ndarray,
    media_ids: Sequence[int] | np.ndarray,
    landmarks: np.ndarray,
    faceness: np.ndarray,
    pairs: np.ndarray,
) -> None:
    """Write the suite's three meta files in insightface's space-separated format."""
    paths = meta_paths(root, suite)
    n = len(images)
    template_ids = np.asarray(template_ids, dtype=np.int64)
    media_ids = np.asarray(media_ids, dtype=np.int64)
    landmarks = np.asarray(landmarks, dtype=np.float64).reshape(n, 10)
    faceness = np.asarray(faceness, dtype=np.float64)
    pairs = np.asarray(pairs, dtype=np.int64)
    if not (len(template_ids) == len(media_ids) == len(faceness) == n):
        raise ValueError("write_ijb_meta: images, template_ids, media_ids and faceness differ in length")
    if pairs.ndim != 2 or pairs.shape[1] != 3:
        raise ValueError(f"write_ijb_meta: pairs must be [M, 3] (t1, t2, label), got shape {pairs.shape}")
    if any(" " in name or not name for name in images):
        raise ValueError("write_ijb_meta: image names must be non-empty and contain no spaces")
    # Python ints and floats (tolist) format as numpy's scalars do, several times faster
    atomic_write_text(
        paths["tid_mid"],
        "".join(f"{name} {t} {m}\n" for name, t, m in zip(images, template_ids.tolist(), media_ids.tolist())),
    )
    atomic_write_text(
        paths["5pts"],
        "".join(
            f"{name} " + " ".join(f"{v:.4f}" for v in pts) + f" {score:.6f}\n"
            for name, pts, score in zip(images, landmarks.tolist(), faceness.tolist())
        ),
    )
    atomic_write_text(paths["pairs"], "".join(f"{a} {b} {c}\n" for a, b, c in pairs.tolist()))


def _first_bad_line(path: Path, columns: int, text_columns: int) -> str:
    """Locate the first line of a meta file with a missing or non-numeric field (slow path, errors only)."""
    import pandas as pd  # here: the workflow files import meta_paths in every Snakemake process
    raw = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, engine="c", names=range(columns))
    numeric = raw.iloc[:, text_columns:].apply(pd.to_numeric, errors="coerce")
    bad = (numeric.isna().any(axis=1) | raw.isna().any(axis=1)).to_numpy()
    line = int(np.argmax(bad)) + 1
    return f"{path}:{line}: expected {columns} fields, the last {columns - text_columns} numeric, got " + repr(
        " ".join(v for v in raw.iloc[line - 1].tolist() if isinstance(v, str))
    )


def _read_table(path: Path, columns: int, text_columns: int) -> pd.DataFrame:
    """Read a space-separated meta file: `text_columns` string columns, then float64 columns."""
    import pandas as pd  # here: the workflow files import meta_paths in every Snakemake process
    if not path.is_file():
        raise FileNotFoundError(f"{path}: IJB meta file not found")
    dtypes = {i: (str if i < text_columns else np.float64) for i in range(columns)}
    try:
        table = pd.read_csv(path, sep=r"\s+", header=None, dtype=dtypes, engine="c", names=range(columns))
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: empty file") from None
    except pd.errors.ParserError as err:  # the message names the line with too many fields
        raise ValueError(f"{path}: expected {columns} space-separated fields per line ({str(err).strip()})") from None
    except ValueError:
        raise ValueError(_first_bad_line(path, columns, text_columns)) from None
    if len(table) == 0:
        raise ValueError(f"{path}: empty file")
    if table.isna().any(axis=None):
        raise ValueError(_first_bad_line(path, columns, text_columns))
    return table


def _as_int(table: pd.DataFrame, column: int, path: Path) -> np.ndarray:
    values = table[column].to_numpy()
    ints = values.astype(np.int64)
    bad = ints != values
    if bad.any():
        line = int(np.argmax(bad)) + 1
        raise ValueError(f"{path}:{line}: field {column + 1} is {values[line - 1]}, expected an integer")
    return ints


def load_ijb_suite(root: Path, suite: str) -> IJBSuite:
    """Parse and cross-check a suite's meta files (landmarks per image, templates of every pair)."""
    import pandas as pd  # here: the workflow files import meta_paths in every Snakemake process
    root = Path(root)
    paths = meta_paths(root, suite)
    pts = _read_table(paths["5pts"], 12, text_columns=1)
    tid = _read_table(paths["tid_mid"], 3, text_columns=1)
    pair_table = _read_table(paths["pairs"], 3, text_columns=0)

    names = pts[0].tolist()
    duplicated = pts[0].duplicated().to_numpy()
    if duplicated.any():
        line = int(np.argmax(duplicated)) + 1
        raise ValueError(f"{paths['5pts']}:{line}: image {names[line - 1]} listed twice")
    escaping = [i for i, name in enumerate(names)
                if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/")]
    if escaping:
        raise ValueError(f"{paths['5pts']}:{escaping[0] + 1}: image {names[escaping[0]]!r} is not a path inside "
                         "loose_crop/ (absolute or with ..)")
    by_name = pd.Series(np.arange(len(tid)), index=tid[0])
    if by_name.index.duplicated().any():
        line = int(np.argmax(by_name.index.duplicated())) + 1
        raise ValueError(f"{paths['tid_mid']}:{line}: image {tid[0][line - 1]} listed twice")
    rows = by_name.reindex(pts[0]).to_numpy()
    if np.isnan(rows).any():
        line = int(np.argmax(np.isnan(rows))) + 1
        raise ValueError(f"{paths['5pts']}:{line}: image {names[line - 1]} has no entry in {paths['tid_mid'].name}")
    if len(tid) != len(pts):
        extra = sorted(set(tid[0]) - set(pts[0]))
        line = int(by_name[extra[0]]) + 1
        raise ValueError(f"{paths['tid_mid']}:{line}: image {extra[0]} has no landmarks in {paths['5pts'].name}")
    rows = rows.astype(np.int64)

    pair_values = np.stack([_as_int(pair_table, c, paths["pairs"]) for c in range(3)], axis=1)
    bad_label = ~np.isin(pair_values[:, 2], (0, 1))
    if bad_label.any():
        line = int(np.argmax(bad_label)) + 1
        raise ValueError(f"{paths['pairs']}:{line}: label {pair_values[line - 1, 2]} is not 0 or 1")
    repeated = pd.DataFrame(pair_values[:, :2]).duplicated().to_numpy()
    if repeated.any():
        line = int(np.argmax(repeated)) + 1
        raise ValueError(f"{paths['pairs']}:{line}: pair {pair_values[line - 1, 0]} {pair_values[line - 1, 1]} is "
                         "listed twice (a duplicated line would count twice in every rate)")
    templates = _as_int(tid, 1, paths["tid_mid"])
    unknown = ~np.isin(pair_values[:, :2], templates).all(axis=1)
    if unknown.any():
        line = int(np.argmax(unknown)) + 1
        raise ValueError(
            f"{paths['pairs']}:{line}: pair {pair_values[line - 1, 0]} {pair_values[line - 1, 1]} names a template "
            f"absent from {paths['tid_mid'].name}"
        )
    landmarks = pts.iloc[:, 1:11].to_numpy(dtype=np.float32).reshape(-1, 5, 2)
    return IJBSuite(
        names=names,
        template_ids=templates[rows],
        media_ids=_as_int(tid, 2, paths["tid_mid"])[rows],
        landmarks=landmarks,
        faceness=pts[11].to_numpy(dtype=np.float32),
        pairs=np.ascontiguousarray(pair_values[:, :2]),
        labels=pair_values[:, 2].astype(np.uint8),
        root=root,
        suite=suite.upper(),
    )


@dataclass
class IdentificationLists:
    """A suite's 1:N lists, rows as in the files: template id and subject id per row (int64 [R] each)."""

    gallery_1: tuple[np.ndarray, np.ndarray]
    gallery_2: tuple[np.ndarray, np.ndarray]
    probe: tuple[np.ndarray, np.ndarray]


def write_identification_meta(root: Path, suite: str, lists: dict[str, tuple[np.ndarray, np.ndarray]],
                              images: Sequence[str], template_ids: np.ndarray) -> None:
    """Write the three 1:N CSVs (key of IDENTIFICATION_FILES -> (template ids, subject ids)): one row per image
    of each template (TEMPLATE_ID,SUBJECT_ID,FILENAME), in the real files' layout."""
    paths = meta_paths(root, suite)
    by_template: dict[int, list[str]] = {}
    for name, template in zip(images, np.asarray(template_ids, dtype=np.int64).tolist()):
        by_template.setdefault(template, []).append(name)
    for key in IDENTIFICATION_FILES:
        templates, subjects = (np.asarray(a, dtype=np.int64) for a in lists[key])
        lines = ["TEMPLATE_ID,SUBJECT_ID,FILENAME\n"]
        for t, s in zip(templates.tolist(), subjects.tolist()):
            lines += [f"{t},{s},{name}\n" for name in by_template[t]]
        atomic_write_text(paths[key], "".join(lines))


def _read_list(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(template ids, subject ids) of a 1:N CSV: one header row, integers in the first two columns."""
    import pandas as pd  # here: the workflow files import meta_paths in every Snakemake process
    if not path.is_file():
        raise FileNotFoundError(f"{path}: IJB 1:N meta file not found")
    try:
        table = pd.read_csv(path, sep=",", skiprows=1, header=None, dtype=str, keep_default_na=False, engine="c")
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: no template rows (expected a header row, then template id, subject id rows)") from None
    except (pd.errors.ParserError, ValueError) as err:
        raise ValueError(f"{path}: not a comma-separated table ({str(err).strip()})") from None
    if len(table) == 0:
        raise ValueError(f"{path}: no template rows (expected a header row, then template id, subject id rows)")
    if table.shape[1] < 2:
        raise ValueError(f"{path}:2: expected template id and subject id in the first two comma-separated columns")
    table = table.iloc[:, :2]
    values = table.apply(lambda col: pd.to_numeric(col.str.strip(), errors="coerce"))
    ints = values.round()
    bad = (values.isna() | (values != ints)).any(axis=1).to_numpy()
    if bad.any():
        line = int(np.argmax(bad))
        raise ValueError(f"{path}:{line + 2}: template id and subject id must be integers, got "
                         f"{','.join(table.iloc[line].tolist())!r}")
    return ints[0].to_numpy(dtype=np.int64), ints[1].to_numpy(dtype=np.int64)


def load_identification_lists(root: Path, suite: str, known_templates: np.ndarray | None = None
                              ) -> IdentificationLists:
    """Parse a suite's three 1:N CSVs; check the galleries are disjoint and (given the 1:1 media list's template
    ids) that every listed template has images."""
    paths = meta_paths(Path(root), suite)
    lists = {key: _read_list(paths[key]) for key in IDENTIFICATION_FILES}
    shared = np.intersect1d(lists["gallery_1"][0], lists["gallery_2"][0])
    if len(shared):
        line = int(np.argmax(np.isin(lists["gallery_2"][0], shared))) + 2
        raise ValueError(f"{paths['gallery_2']}:{line}: template {shared[0]} is also in {paths['gallery_1'].name} "
                         "(the two galleries must be disjoint)")
    if known_templates is not None:
        for key in IDENTIFICATION_FILES:
            unknown = ~np.isin(lists[key][0], known_templates)
            if unknown.any():
                line = int(np.argmax(unknown)) + 2
                raise ValueError(f"{paths[key]}:{line}: template {lists[key][0][line - 2]} has no images in "
                                 f"{paths['tid_mid'].name}")
    return IdentificationLists(**lists)


def template_rows(template_ids: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Row of each pair's template ids in the sorted `template_ids`; [M, 2] int64; error on unknown ids."""
    template_ids = np.asarray(template_ids)
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must be an [M, 2] array of template ids, got shape {pairs.shape}")
    if len(template_ids) == 0 or np.any(template_ids[1:] <= template_ids[:-1]):
        raise ValueError("template ids must be non-empty, sorted and unique (as template_features returns them)")
    lowest, highest = int(template_ids[0]), int(template_ids[-1])
    if lowest >= 0 and highest < 64 * len(template_ids) + (1 << 20):  # a small lookup table beats bisection
        table = np.zeros(highest + 1, dtype=np.int64)
        table[template_ids] = np.arange(len(template_ids))
        rows = table[pairs.clip(0, highest)]
    else:
        rows = np.searchsorted(template_ids, pairs).clip(0, len(template_ids) - 1)
    unknown = template_ids[rows] != pairs
    if unknown.any():
        missing = np.unique(pairs[unknown])
        raise ValueError(f"{len(missing)} pair template ids have no features, e.g. {missing[:5].tolist()}")
    return rows
