"""What can go wrong only at full scale, from the shapes: index widths, int32 limits, head and all-gather sizes.

Every check is arithmetic on the paper's sizes (the dataset registry's expected counts, the preset's model and
batch) and on the dtypes the package uses; the rehearsal runs the same code at those shapes with few images.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from x2softmax.train.head import shard_range
from x2softmax.vocabulary import IJB_SUITES, LABELS

INT32_MAX = 2**31 - 1
FLOAT32_EXACT = 2**24  # integers above this are not all representable in a float32 (RecordIO header labels)
UINT32_MAX = 2**32 - 1
FLOAT32_BYTES = 4
MIB = 2**20
FLIP = 2


LARGEST_SUITE = IJB_SUITES[-1]  # IJB-C: more images and pairs than IJB-B, so it bounds every IJB check


def paper_sizes(registry: Mapping[str, Any]) -> dict[str, int]:
    """The full-scale counts the checks use, from the dataset registry's `expect` blocks."""
    train = registry["ms1mv3"]["expect"]
    ijb = registry[LARGEST_SUITE]["expect"]
    return {"classes": int(train["num_classes"]), "train_images": int(train["num_images"]),
            "ijb_images": int(ijb["images"]), "ijb_pairs": int(ijb["pairs"])}


def _row(check: str, value: float, limit: float | None, unit: str, note: str) -> dict[str, Any]:
    ok = True if limit is None else value <= limit
    return {"check": check, "value": value, "limit": limit, "unit": unit, "ok": ok, "note": note}


def scale_checks(config: Mapping[str, Any], registry: Mapping[str, Any], ranks: int = 8,
                 mean_jpeg_bytes: int = 9_000) -> list[dict[str, Any]]:
    """One row per full-scale check: value, limit (None: informative), unit, ok and what it guards against."""
    s, suite = paper_sizes(registry), LABELS[LARGEST_SUITE]
    emb = int(config["model"]["embedding_size"])
    batch = int(config["train"]["batch_size"])
    rate = float(config["train"]["partial_fc"])
    rows = [
        _row("largest class id", s["classes"] - 1, FLOAT32_EXACT, "id",
             "RecordIO header labels are float32: class ids must be exact integers"),
        _row("largest record key (images + classes + 1)", s["train_images"] + s["classes"] + 1, FLOAT32_EXACT, "key",
             "insightface's header record stores the key ranges as float32"),
        _row("train.rec size estimate", s["train_images"] * mean_jpeg_bytes, None, "bytes",
             f"above 2^32 ({UINT32_MAX + 1}): train.idx offsets are parsed as Python ints (64-bit safe)"),
        _row(f"{suite} pairs", s["ijb_pairs"], INT32_MAX, "pairs", "pair indices are int64; positions fit int32 too"),
        _row(f"{suite} embedding elements (flip views)", FLIP * s["ijb_images"] * emb, INT32_MAX, "elements",
             "one float32 array [2, N, D]: numel must stay below int32 for torch index kernels"),
        _row(f"{suite} embedding memory", FLIP * s["ijb_images"] * emb * FLOAT32_BYTES / MIB, None, "MiB",
             "host memory of the cached flip views"),
        _row(f"{suite} score memory", s["ijb_pairs"] * FLOAT32_BYTES / MIB, None, "MiB", "float32 scores"),
        _row("head logits elements (one process)", batch * s["classes"], INT32_MAX, "elements",
             "the [B, C] cosine matrix and its gradient"),
        _row("head weight memory (full FC)", s["classes"] * emb * FLOAT32_BYTES / MIB, None, "MiB",
             "weight; x3 with its gradient and SGD momentum"),
        _row("head training memory (weight + grad + momentum)", 3 * s["classes"] * emb * FLOAT32_BYTES / MIB, None,
             "MiB", "per process with one rank"),
        _row(f"partial FC {rate:g}: sampled classes", max(1, int(rate * s["classes"])), s["classes"], "classes",
             "int(rate * C_local) per rank"),
        _row("partial FC 0.1: sampled classes", max(1, int(0.1 * s["classes"])), s["classes"], "classes",
             "the check run by the rehearsal and by gpu-check"),
    ]
    first, local = shard_range(s["classes"], 0, ranks)
    global_batch = batch * ranks
    rows += [
        _row(f"{ranks} ranks: classes on rank 0", local, None, "classes", f"contiguous shards starting at {first}"),
        _row(f"{ranks} ranks: per-rank logits elements", global_batch * local, INT32_MAX, "elements",
             "every rank scores the global batch against its shard"),
        _row(f"{ranks} ranks: embedding all-gather per step", global_batch * emb * FLOAT32_BYTES / MIB, None, "MiB",
             "forward all_gather; the backward all_reduce moves the same amount"),
        _row(f"{ranks} ranks: label all-gather per step", global_batch * 8 / 2**10, None, "KiB", "int64 labels"),
        _row(f"{ranks} ranks: head gather at the end", ranks * local * emb * FLOAT32_BYTES / MIB, None, "MiB",
             "gathered_weight pads every shard to rank 0's rows"),
    ]
    return rows
