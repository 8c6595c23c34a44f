"""Per-identity statistics of a training set (class sizes for the class-geometry report)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from x2softmax.io import atomic_path


def class_counts(train_dir: Path) -> pd.DataFrame:
    """Images per class id of a face RecordIO (columns class_id, count; every class, zeros included)."""
    from x2softmax.data.recordio import FaceRecordIO

    rec = FaceRecordIO(train_dir)
    counts = np.bincount(np.asarray(rec.labels, dtype=np.int64), minlength=rec.num_classes)
    return pd.DataFrame({"class_id": np.arange(len(counts)), "count": counts})


def write_class_counts(train_dir: Path, out_csv: Path) -> pd.DataFrame:
    """Write class_counts(train_dir) to `out_csv` atomically and return it."""
    frame = class_counts(train_dir)
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False)
    return frame
