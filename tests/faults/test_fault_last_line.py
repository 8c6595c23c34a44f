"""The last line of stderr names what the user gave, whatever layer refused it: an ambiguous archive and its member
(never the staging copy it was unpacked into), a garbage config JSON given to `x2softmax report index`, the `.idx`
of an out-of-range offset met by the preflight, and, at every entry point that reads YAML before an upstream tool
does (make's config check, `make review`, DVC's stages and `make dvc-*`, a direct `snakemake`), the config file and
key of an alias bomb, a non-UTF-8 file or an invalid value. Each case
runs in a subprocess capped at 2 GiB and a time limit."""

from __future__ import annotations

import io
import re
import sys
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from x2softmax.data.images import encode_image
from x2softmax.data.recordio import write_face_recordio

from .conftest import cli_capped, last_line, run_capped
from .test_fault_injection import _dvc_project, _dvc_repro

REPO = Path(__file__).resolve().parents[2]
SIZE = 16
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi"))  # 10^9 values once expanded, 80 aliases


def _training(folder: Path) -> dict[str, bytes]:
    png = [encode_image(np.random.default_rng(i).integers(0, 255, (SIZE, SIZE, 3), np.uint8), ".png")
           for i in range(6)]
    write_face_recordio(folder, [(i // 3, data) for i, data in enumerate(png)], 2, SIZE)
    return {f"ms1m/{name}": (folder / name).read_bytes() for name in ("train.rec", "train.idx", "property")}


def _zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as zf:
        warnings.simplefilter("ignore")  # "Duplicate name": the fault itself
        for name, data in members:
            zf.writestr(name, data)
    return path


def _tar(path: Path, members: list[tuple[str, bytes | None]]) -> Path:
    with tarfile.open(path, "w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


Members = dict[str, bytes]
AMBIGUOUS: dict[str, tuple[Callable[[Path, Members], Path], str]] = {
    # archive built around a good training set, the member the line must name
    "zip: train.rec twice": (lambda p, g: _zip(p.with_suffix(".zip"), [*g.items(), ("ms1m/train.rec", b"other")]),
                             "ms1m/train.rec"),
    "zip: a member named '.'": (lambda p, g: _zip(p.with_suffix(".zip"), [(".", b"x"), *g.items()]), "."),
    "zip: 'ms1m/property' and './ms1m/property'": (
        lambda p, g: _zip(p.with_suffix(".zip"), [*g.items(), ("./ms1m/property", b"2,16,16")]), "./ms1m/property"),
    "zip: a file 'ms1m', then members in a folder 'ms1m'": (
        lambda p, g: _zip(p.with_suffix(".zip"), [("ms1m", b"x"), *g.items()]), "ms1m/train.rec"),
    "zip: a file, then a folder entry of its name": (
        lambda p, g: _zip(p.with_suffix(".zip"), [*g.items(), ("ms1m/train.rec/", b"")]), "ms1m/train.rec/"),
    "tar: train.idx twice": (lambda p, g: _tar(p.with_suffix(".tar"), [*g.items(), ("ms1m/train.idx", b"0\t0\n")]),
                             "ms1m/train.idx"),
    "tar: a file named '.'": (lambda p, g: _tar(p.with_suffix(".tar"), [*g.items(), (".", b"x")]), "."),
    "tar: a member with an empty name": (lambda p, g: _tar(p.with_suffix(".tar"), [*g.items(), ("", b"x")]), ""),
    "tar: a folder, then a file of its name": (
        lambda p, g: _tar(p.with_suffix(".tar"), [("ms1m", None), *g.items(), ("ms1m", b"x")]), "ms1m"),
}


def _fetch(root: Path, source: Path) -> tuple[int, str]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "MANIFEST.json").write_text("{}")  # a small root: no expected sizes of the real dataset
    return cli_capped(["data", "fetch", "ms1mv3", "--root", str(root), "--source", str(source)])


@pytest.mark.parametrize("case", list(AMBIGUOUS))
def test_an_ambiguous_archive_is_refused_naming_archive_and_member(tmp_path: Path, case: str) -> None:
    build, member = AMBIGUOUS[case]
    archive = build(tmp_path / "faces", _training(tmp_path / "good"))
    root = tmp_path / "data"
    code, err = _fetch(root, archive)
    line = last_line(err)
    assert code != 0 and line.startswith(f"x2softmax data: ValueError: {archive}: member {member!r} "), line
    assert "refusing" in line and ".ms1mv3." not in line, line
    assert not (root / "train").exists() and not [p for p in root.iterdir() if p.name.startswith(".ms1mv3.")]


def test_a_tar_of_its_folder_with_the_member_dot_installs(tmp_path: Path) -> None:
    """`tar -C DIR -cf A.tar .` starts with the folder member '.': the destination itself, not an ambiguity."""
    good = _training(tmp_path / "good")
    archive = _tar(tmp_path / "faces.tar", [(".", None), ("./ms1m", None),
                                            *((f"./{name}", data) for name, data in good.items())])
    code, err = _fetch(tmp_path / "data", archive)
    assert code == 0 and (tmp_path / "data/train/train.rec").read_bytes() == good["ms1m/train.rec"], err


CONFIG_JSON: dict[str, bytes | None] = {
    "not JSON": b"{preset: smoke,",
    "binary garbage": b"\xff\xfe\x00\x81garbage",
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "a JSON list": b"[1, 2, 3]",
    "missing": None,
}


@pytest.mark.parametrize("case", list(CONFIG_JSON))
def test_report_index_names_a_garbage_config_json(tmp_path: Path, case: str) -> None:
    config = tmp_path / "my config.json"
    if CONFIG_JSON[case] is not None:
        config.write_bytes(CONFIG_JSON[case])
    code, err = cli_capped(["report", "index", "--config", str(config), "--reports", str(tmp_path),
                            "--results", str(tmp_path), "--out", str(tmp_path / "index.html")], timeout=60)
    line = last_line(err)
    assert code != 0 and line.startswith("x2softmax report: ") and str(config) in line, line
    assert not (tmp_path / "index.html").exists()


@pytest.mark.parametrize("offset", ["99999999999999999999999", str(2**63), str(2**64 + 1)])
def test_preflight_names_the_idx_of_an_offset_outside_the_rec(tmp_path: Path, offset: str) -> None:
    """The preflight reads the first offset of train.idx and seeks there: one beyond any file is an OverflowError in
    seek unless it is checked first."""
    root = tmp_path / "data"
    _training(root / "train")
    idx = root / "train" / "train.idx"
    lines = idx.read_text().splitlines()
    idx.write_text("\n".join([f"0\t{offset}", *lines[1:]]) + "\n")
    code, err = cli_capped(["data", "preflight", "ms1mv3", "--root", str(root)], timeout=60)
    line = last_line(err)
    assert code != 0 and f"{idx}:1: offset {offset} of key 0 is outside" in line, line


HOSTILE_YAML = {  # a file an entry point is given, and what the last line must say about it besides its name
    "an alias bomb": (BOMB.encode(), "expands to more than"),
    "a non-UTF-8 file": (b"preset: caf\xe9\ndata_root: results/data\n", "is not UTF-8 text"),
}
PYTHON = [sys.executable, "-m"]
# Every entry point that reads YAML before an upstream tool does, given the file `params.yaml` in its folder.
ENTRY_POINTS: dict[str, list[str]] = {
    "make replicate / dry-run / data PRESET=... (config-check --preset)": [
        *PYTHON, "x2softmax", "config-check", "--preset", "params.yaml"],
    "config-check --params (DVC's params.yaml)": [*PYTHON, "x2softmax", "config-check", "--params", "params.yaml"],
    "dvc.yaml's stages and make dvc-* (x2softmax.dvc_stage)": [*PYTHON, "x2softmax.dvc_stage", "data"],
    "make review PRESET=... (x2softmax.review --configfile)": [
        *PYTHON, "x2softmax.review", "--configfile", "params.yaml", "--no-pull"],
    "make review (its params.yaml)": [*PYTHON, "x2softmax.review", "--no-pull"],
}


@pytest.mark.parametrize("fault", list(HOSTILE_YAML))
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_hostile_yaml_is_refused_first_at_every_entry_point(tmp_path: Path, entry: str, fault: str) -> None:
    """The bounded reader reads the file before any upstream tool: the last line names it and what is wrong."""
    text, expected = HOSTILE_YAML[fault]
    (tmp_path / "params.yaml").write_bytes(text)
    done = run_capped(ENTRY_POINTS[entry], cwd=tmp_path, timeout=60)
    line = last_line(done.stderr)
    assert done.returncode != 0 and "params.yaml" in line and expected in line, line


def test_a_real_dvc_repro_names_a_non_utf8_params_yaml(tmp_path: Path) -> None:
    """DVC reads params.yaml before any stage runs: its own last line names the file (an alias bomb there exhausts
    its memory instead: docs/limits.md)."""
    project = _dvc_project(tmp_path)
    (project / "params.yaml").write_bytes(HOSTILE_YAML["a non-UTF-8 file"][0])
    done = _dvc_repro(project, "data")
    line = last_line(done.stderr)
    assert done.returncode != 0 and line.startswith("ERROR: unable to read: 'params.yaml', is not valid utf-8"), line


def _snakemake(tmp: Path, preset: str) -> tuple[int, str]:
    """A direct `snakemake -n --configfile PRESET` in a copy of the project (Snakemake parses the preset first)."""
    from wfutil import BIN, copy_project, env_without_venv  # noqa: PLC0415 - the workflow tests' helpers

    project = copy_project(tmp / "project")
    (project / "preset.yaml").write_text(preset)
    done = run_capped([str(BIN / "snakemake"), "--cores", "1", "-n", "--configfile", "preset.yaml"], cwd=project,
                      timeout=300, env=env_without_venv())
    return done.returncode, done.stderr


SNAKEMAKE_PRESETS = {
    "an invalid value": ("train:\n  lr: -0.1\n", "config key 'train.lr'"),
    "an alias bomb": (BOMB, "preset.yaml expands to more than"),
}


@pytest.mark.parametrize("case", list(SNAKEMAKE_PRESETS))
def test_a_direct_snakemake_call_ends_naming_the_preset(tmp_path: Path, case: str) -> None:
    text, expected = SNAKEMAKE_PRESETS[case]
    code, err = _snakemake(tmp_path, text)
    line = last_line(err)
    assert code != 0 and line.startswith("x2softmax config: ") and "preset.yaml" in line and expected in line, line



def test_every_documented_snakemake_call_checks_its_config_first() -> None:
    """A `.venv/bin/snakemake --configfile F` line of the docs runs `x2softmax config-check --preset F &&` first, and
    every Snakemake call of the Makefile but the lint and the report after a checked run is behind make's config
    check: Snakemake's own YAML loader names no file (docs/limits.md)."""
    calls = 0
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for preset in re.findall(r"\.venv/bin/snakemake [^`\n]*--configfile ([^\s`]+)", doc.read_text()):
            calls += 1
            assert re.search(rf"x2softmax config-check --preset {re.escape(preset)} && \.venv/bin/snakemake [^`\n]*"
                             rf"--configfile {re.escape(preset)}", doc.read_text()), (doc.name, preset)
    recipes = [line for line in (REPO / "Makefile").read_text().splitlines() if line.startswith("\t")]
    checked = [line for line in recipes if "$(SNAKEMAKE)" in line and "--report" not in line]
    assert calls >= 3 and len(checked) == 3 and all(line.startswith("\t$(CONFIG_CHECK) ") for line in checked), \
        (calls, checked)
