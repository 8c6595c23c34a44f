"""The reproduction check: regenerated numbers against those committed at HEAD, within their interval or not."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from x2softmax.report import reproduction


def _metrics(lfw: float, ijb: float | None) -> dict:
    ijb_cell = {"tar_at_far_1e-02_pct": ijb, "tar_at_far_1e-06_pct": None,
                "not_measurable": {"tar_at_far_1e-06_pct": "not measurable"}}
    return {"x2softmax": {"lfw": {"10fold": {"accuracy_pct": lfw}}, "IJBC": {"N1D1F2": ijb_cell}},
            "arcface": {"lfw": {"10fold": {"accuracy_pct": 80.0}}}}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path) -> Path:
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "metrics.json").write_text(json.dumps(_metrics(90.0, 50.0)))
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "reports/metrics.json")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "committed numbers")
    unc = tmp_path / "results" / "uncertainty"
    unc.mkdir(parents=True)
    pd.DataFrame([["x2softmax", "lfw", "10fold", "accuracy_pct", 88.0, 92.0],
                  ["arcface", "lfw", "10fold", "accuracy_pct", 79.0, 81.0]],
                 columns=["run", "dataset", "protocol", "metric", "ci_low", "ci_high"]).to_csv(
        unc / "verification_intervals.csv", index=False)
    pd.DataFrame([["x2softmax", "IJBC", "N1D1F2", "tar_at_far_1e-02_pct", 54.0, 60.0]],
                 columns=["run", "dataset", "protocol", "metric", "ci_low", "ci_high"]).to_csv(
        unc / "ijb_intervals.csv", index=False)
    return tmp_path


def test_planted_regenerated_numbers_are_judged_against_their_interval(repo):
    (repo / "reports" / "metrics.json").write_text(json.dumps(_metrics(91.0, 57.0)))  # the rerun's numbers
    table, statement = reproduction.reproduction_table(repo / "reports" / "metrics.json", repo / "results/uncertainty",
                                                       repo)
    assert statement == "HEAD:reports/metrics.json"
    rows = table.set_index(["run", "dataset"])
    lfw = rows.loc[("x2softmax", "lfw")]
    assert (lfw["committed"], lfw["regenerated"], lfw["difference"], lfw["interval_width"]) == (90.0, 91.0, 1.0, 4.0)
    assert lfw["within"] is True or lfw["within"] == True  # noqa: E712 (object column)
    ijb = rows.loc[("x2softmax", "IJBC")]
    assert ijb["difference"] == 7.0 and not ijb["within"]  # 50 lies outside [54, 60]
    assert rows.loc[("arcface", "lfw"), "within"]
    assert len(table) == 3  # the unmeasurable FAR is no number
    line = reproduction.summary_line(table, statement)
    assert line.startswith("Reproduction: 2 of 3 numbers within their 95 % interval")
    out = reproduction.write_reproduction(table, statement, repo / "reports" / "tables" / "reproduction.csv")
    back, again = reproduction.read_reproduction(out)
    assert again == statement and reproduction.summary_line(back, again) == line


def test_numbers_without_a_counterpart_or_interval_are_named(repo):
    regenerated = _metrics(90.0, 50.0)
    regenerated["cosface"] = {"lfw": {"10fold": {"accuracy_pct": 70.0}}}
    del regenerated["arcface"]
    (repo / "reports" / "metrics.json").write_text(json.dumps(regenerated))
    table, _ = reproduction.reproduction_table(repo / "reports" / "metrics.json", repo / "results/uncertainty", repo)
    notes = table.set_index("run")["note"]
    assert notes["cosface"] == "not committed" and notes["arcface"] == "not regenerated"


def test_no_git_or_no_committed_version_is_stated(tmp_path_factory, repo):
    plain = tmp_path_factory.mktemp("plain")  # outside the fixture's git checkout
    (plain / "reports").mkdir(parents=True)
    (plain / "reports" / "metrics.json").write_text(json.dumps(_metrics(90.0, 50.0)))
    table, statement = reproduction.reproduction_table(plain / "reports" / "metrics.json", plain, plain)
    assert table.empty and "no committed version to compare" in statement
    assert reproduction.summary_line(table, statement).startswith("Reproduction: nothing compared (")
    (repo / "reports" / "other.json").write_text(json.dumps(_metrics(1.0, 1.0)))
    _, statement = reproduction.reproduction_table(repo / "reports" / "other.json", repo, repo)
    assert statement == "no reports/other.json committed at HEAD: no committed version to compare"
    with pytest.raises(FileNotFoundError, match="regenerated metrics not found"):
        reproduction.reproduction_table(repo / "absent.json", repo, repo)
