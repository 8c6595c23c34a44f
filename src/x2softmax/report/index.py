"""`reports/index.html`: one offline page linking every report, figure and table, with config, provenance,
protocols and software versions."""

from __future__ import annotations

import html
import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from x2softmax.evaluate.ijb import STANDARD_MODE
from x2softmax.io import atomic_write_json, atomic_write_text, file_sha256
from x2softmax.report.artifacts import NOTEBOOKS, PAGES, SYNTHETIC_NOTICE, figure_paths, table_paths
from x2softmax.report.page import figure_number, table_number
from x2softmax.report.provenance import config_hash
from x2softmax.report.style import STYLESHEET
from x2softmax.report.uncertainty import rerun_expectation
from x2softmax.vocabulary import PROTOCOLS

# What each protocol a number names means (the index's Protocols table): the pair verification protocols and the IJB
# 1:1 feature mode.
PROTOCOL_DESCRIPTIONS: dict[str, str] = dict(zip((*PROTOCOLS, STANDARD_MODE), (
    "insightface 10-fold protocol: flip-summed embeddings, squared L2 distance, threshold chosen on the "
    "other 9 folds; mean ± population std of the fold accuracies",
    "X2-Softmax authors' protocol: no flip, cosine similarity, the best threshold chosen on the whole test "
    "set; no ordering with 10fold holds (the threshold choice helps, the missing flip hurts)",
    "the oracle threshold rule on the flip-summed embeddings of 10fold: oracle_flip − 10fold is the "
    "threshold-choice effect, oracle_flip − oracle the flip effect",
    "insightface IJB 1:1 evaluation: flip-summed, unnormalised image features weighted by faceness, "
    "media-averaged templates; TAR read as eval_ijbc.py (reversed ROC: at the nearest FAR, the highest TAR); a FAR "
    "below 1 / impostor pairs is not measurable (—)",
), strict=True))

SOFTWARE = ("torch", "numpy", "pandas", "snakemake", "dvc", "papermill", "nbconvert", "matplotlib", "seaborn",
            "scikit-learn", "x2softmax")

MANIFEST_JSON = "data_manifest.json"  # the data manifest (generator settings, counts, file hashes), linked


def _rel(target: Path, start: Path) -> str:
    """Relative URL from directory `start` to `target` (forward slashes)."""
    return Path(os.path.relpath(target, start)).as_posix()


def _esc(value: Any) -> str:
    """HTML-escaped text of a value."""
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table from already-escaped cell strings; its text wraps, so it is never wider than the page."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="wrap"><tr>{head}</tr>{body}</table>'


def _link(target: Path, start: Path, text: str) -> str:
    """A relative link, or greyed text saying the file was not produced."""
    if target.is_file():
        return f'<a href="{_esc(_rel(target, start))}">{_esc(text)}</a>'
    return f'<span class="missing">{_esc(text)} (not produced in this run)</span>'


def software_versions() -> dict[str, str]:
    """Python and the versions of the packages the pipeline runs on ('not installed' where absent)."""
    from x2softmax.report.provenance import library_versions

    return {"python": platform.python_version(), **library_versions(SOFTWARE)}


def _manifest(config: Mapping[str, Any], results_dir: Path) -> tuple[Path | None, dict[str, Any] | None]:
    """The synthetic data MANIFEST.json under the configured data root (or results/data), if there is one."""
    roots = [Path(config["data"]["root"])] if isinstance(config.get("data"), Mapping) and config["data"].get(
        "root") else []
    roots.append(Path(results_dir) / "data")
    for root in roots:
        path = root / "MANIFEST.json"
        if path.is_file():
            try:
                return path, json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from err
    return None, None


def is_synthetic(config: Mapping[str, Any], manifest: Mapping[str, Any] | None) -> bool:
    """Whether the run used synthetic data: config["synthetic"] when set, else whether a data MANIFEST exists."""
    if "synthetic" in config:
        return bool(config["synthetic"])
    return manifest is not None


def _provenance_html(config: Mapping[str, Any], results_dir: Path, here: Path) -> tuple[bool, str]:
    """The data provenance section: synthetic notice, manifest (its long lists in a linked JSON file beside the
    page), and per-run data and checkpoint hashes."""
    manifest_path, manifest = _manifest(config, results_dir)
    synthetic = is_synthetic(config, manifest)
    parts = []
    parts.append(f"<p>{_numbers_line(results_dir)}</p>")
    if synthetic:
        parts.append(f'<div class="notice synthetic"><strong>Synthetic data.</strong> {_esc(SYNTHETIC_NOTICE)}</div>')
    else:
        parts.append('<div class="notice real">Real data: the data sets named in the configuration below.</div>')
    if manifest is not None:
        scalars = [[_esc(k), _esc(v)] for k, v in manifest.items() if not isinstance(v, (dict, list))]
        parts.append(f"<p>Data manifest <code>{_esc(manifest_path)}</code> "
                     f"(sha256 {_esc(file_sha256(manifest_path)[:16])}…):</p>")
        parts.append(_table(["field", "value"], scalars))
        nested = {k: v for k, v in manifest.items() if isinstance(v, (dict, list))}
        if nested:
            atomic_write_json(here / MANIFEST_JSON, nested)
            parts.append(f"<p>Generator settings, counts and file hashes: {_link(here / MANIFEST_JSON, here, MANIFEST_JSON)}"
                         "</p>")
    rows = []
    train_root = Path(results_dir) / "train"
    for run_dir in sorted(p for p in train_root.glob("*") if p.is_dir()) if train_root.is_dir() else []:
        summary_path = run_dir / "summary.json"
        summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
        data_hash = next((str(v) for k, v in summary.items() if "hash" in k and "data" in k), "")
        backbone = run_dir / "backbone.pt"
        rows.append([
            _esc(run_dir.name),
            _esc(summary.get("loss", summary.get("spec", {}).get("loss", {}).get("name", ""))),
            f"<code>{_esc(data_hash[:16])}</code>",
            f"<code>{_esc(file_sha256(backbone)[:16]) if backbone.is_file() else 'missing'}</code>",
        ])
    if rows:
        parts.append("<p>Training runs (hashes truncated to 16 hex digits):</p>")
        parts.append(_table(["run", "loss", "training data hash", "backbone.pt sha256"], rows))
    return synthetic, "\n".join(parts)


def _claims_html(claims: Any, here: Path, csv_path: Path) -> str:
    """The claims scoreboard: one row per claim, subject and benchmark (the claim named once per group), with its
    effect, verdict (reason and degenerate comparisons under it), seed stability and evidence."""
    from x2softmax.report.claims import PAIRED
    from x2softmax.report.uncertainty import interval_text

    def text(value: Any) -> str:
        return value if isinstance(value, str) else ""

    trained = claims[claims["evidence_table"] == PAIRED]
    common = [note for note in dict.fromkeys([*map(text, trained["reason"]), *map(text, trained["degenerate"])])
              if note and len(trained) > 1 and ((trained["reason"] == note) | (trained["degenerate"] == note)).all()]
    rows, previous = [], None
    for _, row in claims.iterrows():
        page, _, label = str(row["evidence_page"]).partition("#")
        effect = interval_text(row["effect"], row["ci_low"], row["ci_high"])
        effect = _esc(effect + (f" {row['unit']}" if effect != "—" else ""))
        notes = [f"this run: {text(row['result'])}" if text(row["result"]) else "",
                 *(n for n in (text(row["reason"]), text(row["degenerate"])) if n not in common)]
        rows.append([_esc(row["claim"]) if row["claim"] != previous else "",
                     " · ".join(_esc(v) for v in (text(row["subject"]), text(row["benchmark"])) if v),
                     effect + (f"<br><small>{_esc(row['metric'])}</small>" if text(row["metric"]) else ""),
                     f"<strong>{_esc(row['verdict'])}</strong>"
                     + "".join(f"<br><small>{_esc(n)}</small>" for n in notes if n),
                     _esc(text(row["stable_over_seeds"])), _link(Path(here) / page, here, label or page)])
        previous = row["claim"]
    from x2softmax.report.claims import claims_summary

    summary = claims_summary(claims)
    summary_rows = [[_esc(r["claim"]), _esc(r["comparisons"]),
                     f"<strong>{_esc(r['verdict'])}</strong><br><small>{_esc(r['verdicts'])}</small>",
                     _esc(r["this_run"]), _esc(r["stable_over_seeds"]), _esc(r["reason"])]
                    for _, r in summary.iterrows()]
    return (f"<p>One row per claim of the paper: how many comparisons this run has for it, the verdict over them "
            f"(each computed by <code>x2softmax.report.claims</code> from the linked tables), this run's own results "
            f"where a claim cannot be tested here, and how many comparisons hold for every training seed. All rows "
            f"and columns: {_link(csv_path, here, csv_path.name)}.</p>"
            + _table(["claim", "comparisons", "verdict", "this run's results", "stable over seeds", "why"],
                     summary_rows).replace("<table>", '<table class="claims">', 1)
            + f"<details><summary>Every comparison ({len(claims)} rows): effect, 95 % interval, verdict, seeds, "
              f"evidence</summary>"
            + "".join(f"<p>Every comparison of trained models: {_esc(note)}.</p>" for note in common)
            + '<div class="table-scroll">' + _table(["claim", "compared", "effect [95 %]", "verdict",
                                                      "stable over seeds", "evidence"], rows).replace(
                "<table>", '<table class="claims">', 1) + "</div></details>")


def _environment_html(results_dir: Path) -> str:
    """The machine, CPU, threads and library versions the numbers were produced with (results/environment.json)."""
    from x2softmax.report.provenance import ENVIRONMENT, read_environment

    record = read_environment(results_dir)
    if record is None:
        return (f"<p>Not recorded: <code>{_esc(Path(results_dir) / ENVIRONMENT)}</code> is absent (results produced "
                "before the record existed).</p>")
    rows = [[_esc(k.replace("_", " ")), f"<code>{_esc(v)}</code>"] for k, v in record.items() if k != "libraries"]
    rows += [[_esc(name), f"<code>{_esc(version)}</code>"] for name, version in record.get("libraries", {}).items()]
    return ("<p>Recorded right after training and evaluation (<code>results/environment.json</code>); the lock file "
            "<code>requirements.lock</code> pins these library versions for <code>make replicate</code>.</p>"
            + _table(["recorded", "value"], rows))


def _numbers_line(results_dir: Path) -> str:
    """The commit the numbers were produced at, with the config hash beside it (as the page footers give them)."""
    from x2softmax.report.provenance import numbers_commit

    return (f"Numbers produced at commit <code>{_esc(numbers_commit(results_dir))}</code> with config hash "
            f"<code>{_esc(config_hash(results_dir / 'config.json'))}</code> (sha256 of "
            "<code>results/config.json</code>).")


def _reproduction_html(path: Path, here: Path) -> str:
    """The reproduction check: numbers within their rerun interval, verdicts that agree (those that differ listed),
    and the environment difference against the committed pages."""
    from x2softmax.report.reproduction import read_reproduction, summary_line, verdicts_path

    written = read_reproduction(path)
    if written is None:
        return f"<p>Not checked: <code>{_esc(path.name)}</code> was not produced.</p>"
    table, verdicts = written.numbers, written.verdicts
    out = (f"<p>{_esc(summary_line(written))} All numbers: {_link(path, here, path.name)}; every verdict compared: "
           f"{_link(verdicts_path(path), here, verdicts_path(path).name)}.</p>")
    if written.environment:
        out += ("<p>Environment of the regenerated numbers against the one recorded for the committed pages:</p><ul>"
                + "".join(f"<li>{_esc(line)}</li>" for line in written.environment) + "</ul>")
    differ = verdicts[verdicts["agree"].astype(str).str.lower() == "false"]
    if len(differ):
        rows = [[_esc(r.kind), _esc(r.key), _esc(r.committed), _esc(r.regenerated),
                 "yes" if str(r.reversed).lower() == "true" else ""] for r in differ.itertuples(index=False)]
        out += (f"<details><summary>Verdicts that differ from the committed ones ({len(differ)})</summary>"
                '<div class="table-scroll">' + _table(["kind", "comparison", "committed", "regenerated",
                                                      "reversed sign"], rows) + "</div></details>")
    judged = table[table["within"].astype(str).str.lower().isin(["true", "false"])]
    outside = judged[judged["within"].astype(str).str.lower() == "false"]
    if len(outside):
        rows = [[_esc(r.run), _esc(r.dataset), _esc(r.protocol), _esc(r.metric), f"{r.committed:.2f}",
                 f"{r.regenerated:.2f}", f"{r.difference:+.2f}", f"{r.interval_width:.2f}"]
                for r in outside.itertuples(index=False)]
        out += (f"<details><summary>Numbers outside their rerun interval ({len(outside)})</summary>"
                '<div class="table-scroll">' + _table(["run", "data set", "protocol", "metric", "committed",
                                                      "regenerated", "difference", "interval width"], rows)
                + "</div></details>")
    return out


def _studies_html(reports_dir: Path, here: Path) -> str:
    """The study pages (NOTEBOOKS entries with a "study"): a link to each and the command that regenerates it."""
    parts = ["<h2>Controlled studies</h2>"]
    for nb, entry in NOTEBOOKS.items():
        if "study" in entry:
            page = reports_dir / entry["study"] / f"{nb}.html"
            made = "" if page.is_file() else " (not generated in this checkout)"
            parts.append(f"<p>{_link(page, here, nb + ': ' + entry['title'])}{made}: its own preset, pages and "
                         f"tables under <code>reports/{_esc(entry['study'])}/</code>, regenerated by "
                         f"<code>make replicate PRESET={_esc(entry['study'])}</code> (committed beside these pages; "
                         "the default's results are not touched).</p>")
    return "".join(parts)


def build_index(reports_dir: Path, out_html: Path, *, config: dict, results_dir: Path) -> Path:
    """Write the offline index page of the whole report (no scripts; relative links to pages, figures, tables)."""
    reports_dir, out_html, results_dir = Path(reports_dir), Path(out_html), Path(results_dir)
    here = out_html.parent
    synthetic, provenance = _provenance_html(config, results_dir, here)
    title = f"X2-Softmax replication — {config.get('preset', 'report')}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<title>{_esc(title)}</title><link rel="stylesheet" href="{STYLESHEET}"></head><body>',
        f"<h1>{_esc(title)}</h1>",
        "<p>Replication of <em>X2-Softmax: Margin Adaptive Loss Function for Face Recognition</em> "
        "(Xu et al., arXiv 2312.05281). Every figure and table below is regenerated by an executed notebook.</p>",
    ]
    parts.append(f"<p>{_numbers_line(results_dir)}</p>")
    if synthetic:
        parts.append(f'<div class="notice synthetic"><strong>⚠ Synthetic data.</strong> {_esc(SYNTHETIC_NOTICE)}</div>')
    from x2softmax.report.claims import claims_table, write_claims

    claims = claims_table(reports_dir, results_dir, config)
    claims_csv = write_claims(claims, reports_dir / "tables" / "claims.csv")
    parts.append("<h2>Claims scoreboard</h2>")
    parts.append(_claims_html(claims, here, claims_csv))
    parts.append("<h2>Reproduction</h2>")
    parts.append("<p>After <code>make replicate</code>, against what is committed in git "
                 "(<code>x2softmax.report.reproduction</code>): each regenerated number, inside the 95 % interval of "
                 "a rerun or not (the regenerated value ± t·√(2 s²), s² the between-seed variance pooled over the "
                 "losses trained with several seeds: a rerun retrains every network); every paired X2-vs-baseline "
                 "verdict and every claim, agreeing or not; and the config hash, CPU, instruction set, threads and "
                 f"library versions against those recorded for the committed pages. {_esc(rerun_expectation())}</p>")
    parts.append(_reproduction_html(reports_dir / "tables" / "reproduction.csv", here))
    parts.append("<p>Snakemake's own report (rules, runtimes, provenance of every file) is not part of the repository "
                 "(it holds timings and absolute paths): <code>make replicate</code> writes it to "
                 "<code>reports/report.html</code> on your machine.</p>")
    parts.append("<h2>Reports</h2>")
    for nb in PAGES:
        entry = NOTEBOOKS[nb]
        parts.append(f"<h3>{_link(reports_dir / f'{nb}.html', here, nb + ': ' + entry['title'])}</h3>")
        figures = []
        for png in figure_paths(nb, reports_dir / "figures")[:: 2]:
            stem = png.stem
            pdf = png.with_suffix(".pdf")
            cap = _esc(f"Figure {figure_number(nb, stem)}. {entry['captions'][stem]}")
            if png.is_file():
                figures.append(
                    f'<figure><a href="{_esc(_rel(png, here))}"><img src="{_esc(_rel(png, here))}" alt="{cap}"></a>'
                    f"<figcaption>{cap}<br>{_link(png, here, 'PNG')} · {_link(pdf, here, 'PDF')}</figcaption></figure>"
                )
            else:
                figures.append(f'<figure><figcaption class="missing">{cap} (not produced in this run)'
                               "</figcaption></figure>")
        parts.append(f'<div class="figures">{"".join(figures)}</div>')
        tables = [
            [_link(csv, here, csv.name), _esc(f"Table {table_number(nb, csv.stem)}. {entry['captions'][csv.stem]}")]
            for csv in table_paths(nb, reports_dir / "tables")
        ]
        parts.append(_table(["table", "caption"], tables))
    parts.append(_studies_html(reports_dir, here))
    parts.append("<h2>Protocols</h2><p>Every number names its protocol; numbers under different protocols are never "
                 "mixed in one column.</p>")
    protocol_rows = [[f"<code>{_esc(k)}</code>", _esc(v)] for k, v in PROTOCOL_DESCRIPTIONS.items()]
    parts.append(_table(["protocol", "definition"], protocol_rows))
    parts.append("<h2>Data provenance</h2>")
    parts.append(provenance)
    parts.append("<h2>Configuration</h2>")
    parts.append(f"<pre>{_esc(yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True))}</pre>")
    parts.append("<h2>Training environment</h2>")
    parts.append(_environment_html(results_dir))
    parts.append("<h2>Software</h2>")
    parts.append(_table(["package", "version"], [[_esc(k), _esc(v)] for k, v in software_versions().items()]))
    parts.append("</body></html>")
    atomic_write_text(out_html, "\n".join(parts) + "\n")
    return out_html
