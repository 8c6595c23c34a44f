"""`x2softmax data ...`: synthesize, fetch, check, align, pack and decode datasets."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from x2softmax.cli.types import bounded, json_arg
from x2softmax.vocabulary import IJB_SUITES


def cmd_data_synth(args: argparse.Namespace) -> None:
    """Write the synthetic identities in the real formats."""
    from x2softmax.data.synthetic import generate

    manifest = generate(args.settings, Path(args.out), workers=args.workers)
    print(json.dumps(manifest.get("counts", {}), indent=2))


def cmd_data_fetch(args: argparse.Namespace) -> None:
    """Fetch a registry dataset into a data root and check it."""
    from x2softmax.data.datasets import SAMPLE_IMAGES, check_dataset, fetch_dataset
    from x2softmax.io import atomic_write_json

    path = fetch_dataset(args.name, Path(args.root), source=args.source)
    summary = check_dataset(path, sample=SAMPLE_IMAGES)
    print(summary)
    if args.marker:
        atomic_write_json(args.marker, {"dataset": args.name, "path": str(path), "check": summary})


def cmd_data_preflight(args: argparse.Namespace) -> None:
    """Refuse to go on unless every named dataset is present and valid."""
    from x2softmax.data.datasets import preflight
    from x2softmax.io import atomic_write_json

    problems = preflight(args.names, Path(args.root))
    if problems:
        sys.exit("preflight failed: the datasets below are missing or invalid; nothing was trained.\n- "
                 + "\n- ".join(problems))
    print(f"preflight: {len(args.names)} datasets present and valid under {args.root}")
    if args.out:
        atomic_write_json(args.out, {"datasets": args.names, "root": args.root, "problems": []})


def cmd_data_check(args: argparse.Namespace) -> None:
    """Validate one dataset, decoding its images."""
    from x2softmax.data.datasets import check_dataset

    print(check_dataset(Path(args.path), sample=args.sample))


def cmd_data_class_counts(args: argparse.Namespace) -> None:
    """Write the images per identity of a training set."""
    from x2softmax.data.stats import write_class_counts

    frame = write_class_counts(Path(args.train_dir), Path(args.out))
    print(f"{len(frame)} classes, {int(frame['count'].sum())} images -> {args.out}")


def cmd_data_align(args: argparse.Namespace) -> None:
    """Align an IJB suite into an aligned store."""
    from x2softmax.data.align import align_ijb_suite

    print(align_ijb_suite(Path(args.suite_root), args.suite, Path(args.out), size=args.size))


def cmd_data_align_folder(args: argparse.Namespace) -> None:
    """Detect, landmark and align a folder of raw photos."""
    from x2softmax.data.align import align_folder

    print(align_folder(Path(args.src), Path(args.out), size=args.size, detector=args.detector))


def cmd_data_decode_pairs(args: argparse.Namespace) -> None:
    """Decode a .bin set's distinct images once, at the model's input size."""
    from x2softmax.data.pair_store import write_pair_store

    print(write_pair_store(Path(args.bin), Path(args.out), args.size))


def cmd_data_pack(args: argparse.Namespace) -> None:
    """Pack an aligned image folder into RecordIO."""
    from x2softmax.data.pack import pack_folder

    print(pack_folder(Path(args.folder), Path(args.out), size=args.size))


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the dataset subcommands: synth, fetch, preflight, check, class-counts, align, align-folder, pack,
    decode-pairs."""
    data = sub.add_parser("data", help="datasets: synthesize, fetch, check, align, pack").add_subparsers(
        dest="data_command", required=True)
    p = data.add_parser("synth", help="write synthetic identities in the real formats")
    p.add_argument("--settings", type=json_arg, default={}, help="JSON overrides of synthetic.DEFAULTS")
    p.add_argument("--out", required=True, help="data root to write")
    p.add_argument("--workers", type=bounded(int, 1, 1024), default=1,
                   help="processes rendering the images (the bytes written are the same for any number)")
    p.set_defaults(func=cmd_data_synth)
    p = data.add_parser("fetch", help="download a registry dataset (or explain how to get it) and check it")
    p.add_argument("name")
    p.add_argument("--root", required=True)
    p.add_argument("--source", default=None, help="a URL, local path or archive to take the data from")
    p.add_argument("--marker", default=None, help="write a JSON marker here once the dataset checks out")
    p.set_defaults(func=cmd_data_fetch)
    p = data.add_parser("preflight", help="check that every named dataset is present and valid")
    p.add_argument("names", nargs="*")
    p.add_argument("--root", required=True)
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_data_preflight)
    p = data.add_parser("check", help="validate a dataset (RecordIO dir, .bin file or IJB suite), decoding every image")
    p.add_argument("path")
    p.add_argument("--sample", type=int, default=None, help="decode only this many images, spread evenly")
    p.set_defaults(func=cmd_data_check)
    p = data.add_parser("class-counts", help="images per identity of a training RecordIO")
    p.add_argument("train_dir")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_data_class_counts)
    p = data.add_parser("align", help="align an IJB suite into an aligned store")
    p.add_argument("suite_root")
    p.add_argument("--suite", required=True, choices=IJB_SUITES)
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=112)
    p.set_defaults(func=cmd_data_align)
    p = data.add_parser("align-folder", help="detect, landmark and align a folder of raw photos (needs [detect])")
    p.add_argument("src")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--detector", default="dlib")
    p.set_defaults(func=cmd_data_align_folder)
    p = data.add_parser("pack", help="pack an aligned image folder (one subfolder per identity) into RecordIO")
    p.add_argument("folder")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=112)
    p.set_defaults(func=cmd_data_pack)
    p = data.add_parser("decode-pairs", help="decode a .bin set's distinct images once, at the model's input size")
    p.add_argument("--bin", required=True)
    p.add_argument("--size", type=bounded(int, 1, 4096), required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_data_decode_pairs)
