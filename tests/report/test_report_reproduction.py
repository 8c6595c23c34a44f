"""The reproduction check: regenerated numbers against those committed at HEAD (within a rerun's interval or not),
paired verdicts and claims that agree or not, and the environment difference."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from scipy.stats import t as student_t

from x2softmax.report import reproduction
from x2softmax.report.provenance import environment_difference

ENVIRONMENT = {"commit": "abc", "machine": "x86_64", "cpu_model": "Intel(R) Xeon(R) Processor",
               "cpu_flags": "sse4_2 avx avx2 fma avx512f", "cpu_count": 2, "torch_threads": 1,
               "python": "3.11.7", "libraries": {"torch": "2.13.0+cpu", "numpy": "2.4.6"}}


def _metrics(lfw: float, ijb: float | None) -> dict:
    ijb_cell = {"tar_at_far_1e-02_pct": ijb, "tar_at_far_1e-06_pct": None,
                "not_measurable": {"tar_at_far_1e-06_pct": "not measurable"}}
    return {"x2softmax": {"lfw": {"10fold": {"accuracy_pct": lfw}}, "IJBC": {"N1D1F2": ijb_cell}},
            "arcface": {"lfw": {"10fold": {"accuracy_pct": 80.0}}}}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _paired(verdicts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"baseline": ["arcface", "arcface", "cosface"], "dataset": ["lfw", "cfp_fp", "lfw"],
                         "protocol": "10fold", "metric": "accuracy_pct", "verdict": verdicts})


def _interval_rows(run: str, base: str, seed: int, dataset: str, protocol: str, metric: str, value: float,
                   low: float, high: float) -> dict:
    return {"run": run, "base_run": base, "seed": seed, "dataset": dataset, "protocol": protocol, "metric": metric,
            "value": value, "ci_low": low, "ci_high": high}


@pytest.fixture
def repo(tmp_path) -> Path:
    tables = tmp_path / "reports" / "tables"
    tables.mkdir(parents=True)
    (tmp_path / "reports" / "metrics.json").write_text(json.dumps(_metrics(90.0, 50.0)))
    _paired(["X2 better", "X2 worse", "no detectable difference"]).to_csv(tables / "03_paired_comparisons.csv",
                                                                          index=False)
    pd.DataFrame({"claim": ["c"], "subject": ["arcface"], "benchmark": ["lfw"], "metric": ["m"],
                  "verdict": ["not testable here"], "result": ["X2 better"]}).to_csv(tables / "claims.csv",
                                                                                     index=False)
    (tmp_path / "reports" / "environment.json").write_text(json.dumps(ENVIRONMENT))
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "reports")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "committed numbers")
    unc = tmp_path / "results" / "uncertainty"
    unc.mkdir(parents=True)
    # lfw: x2softmax with two seeds (88, 89), arcface one (80): pooled seed variance 0.5 with 1 df
    pd.DataFrame([_interval_rows("x2softmax", "x2softmax", 1, "lfw", "10fold", "accuracy_pct", 88.0, 86.0, 90.0),
                  _interval_rows("x2softmax.seed2", "x2softmax", 2, "lfw", "10fold", "accuracy_pct", 89.0, 87.0, 91.0),
                  _interval_rows("arcface", "arcface", 1, "lfw", "10fold", "accuracy_pct", 80.0, 79.0, 81.0)]).to_csv(
        unc / "verification_intervals.csv", index=False)
    # IJBC: one seed only, no pool: the test-set interval is the judge
    pd.DataFrame([_interval_rows("x2softmax", "x2softmax", 1, "IJBC", "N1D1F2", "tar_at_far_1e-02_pct", 57.0, 54.0,
                                 60.0)]).to_csv(unc / "ijb_intervals.csv", index=False)
    _paired(["X2 better", "X2 better", "no detectable difference"]).to_csv(unc / "paired_comparisons.csv", index=False)
    return tmp_path


def _check(repo: Path, environment: dict | None = None, claims: pd.DataFrame | None = None):
    return reproduction.reproduction_check(repo / "reports" / "metrics.json", repo / "results/uncertainty", repo,
                                           environment, claims)


def test_planted_regenerated_numbers_are_judged_against_a_rerun_interval(repo):
    (repo / "reports" / "metrics.json").write_text(json.dumps(_metrics(88.0, 57.0)))  # the rerun's numbers
    check = _check(repo, ENVIRONMENT)
    assert check.statement == "HEAD:reports/metrics.json"
    rows = check.numbers.set_index(["run", "dataset"])
    lfw = rows.loc[("x2softmax", "lfw")]
    half = student_t.ppf(0.975, 1) * math.sqrt(2 * 0.5)  # t(1 df) · sqrt(2 s²)
    assert (lfw["committed"], lfw["regenerated"], lfw["difference"]) == (90.0, 88.0, -2.0)
    assert (lfw["ci_low"], lfw["ci_high"]) == (pytest.approx(88.0 - half), pytest.approx(88.0 + half))
    assert lfw["within"] is True or lfw["within"] == True  # noqa: E712 (object column)
    ijb = rows.loc[("x2softmax", "IJBC")]
    assert ijb["difference"] == 7.0 and not ijb["within"]  # 50 lies outside the test-set interval [54, 60]
    assert ijb["note"] == "test-set interval: training noise not measured"
    assert len(check.numbers) == 3  # the unmeasurable FAR is no number
    line = reproduction.summary_line(check)
    assert line.startswith("Reproduction: 2 of 3 numbers within their 95 % rerun interval")
    assert "2 of 3 paired verdicts agree (1 reversed)" in line and "claims: not compared" in line
    assert "environment: the same CPU, instruction set, threads and libraries" in line
    out = reproduction.write_reproduction(check, repo / "reports" / "tables" / "reproduction.csv")
    back = reproduction.read_reproduction(out)
    assert back.statement == check.statement and reproduction.summary_line(back) == line


def test_verdicts_and_claims_are_compared_with_the_committed_ones(repo):
    claims = pd.DataFrame({"claim": ["c"], "subject": ["arcface"], "benchmark": ["lfw"], "metric": ["m"],
                           "verdict": ["not testable here"], "result": ["no detectable difference"]})
    verdicts = _check(repo, ENVIRONMENT, claims).verdicts.set_index("key")
    assert len(verdicts) == 4  # three paired comparisons in both tables, one claim
    flipped = verdicts.loc["arcface · cfp_fp · 10fold · accuracy_pct"]
    assert (flipped["committed"], flipped["regenerated"], flipped["agree"], flipped["reversed"]) == (
        "X2 worse", "X2 better", False, True)
    assert verdicts.loc["arcface · lfw · 10fold · accuracy_pct", "agree"]
    claim = verdicts.loc["c · arcface · lfw · m"]
    assert claim["committed"] == "not testable here (X2 better)" and not claim["agree"] and not claim["reversed"]


def test_the_environment_difference_is_named(repo):
    amd = {**ENVIRONMENT, "cpu_model": "AMD EPYC 7B13", "cpu_flags": "sse4_2 avx avx2 fma",
           "libraries": {"torch": "2.13.0+cpu", "numpy": "2.4.7"}}
    check = _check(repo, amd)
    assert check.environment == ["CPU Intel(R) Xeon(R) Processor → AMD EPYC 7B13", "instruction set −avx512f",
                                 "numpy 2.4.6 → 2.4.7"]
    out = reproduction.write_reproduction(check, repo / "reports" / "tables" / "reproduction.csv")
    assert reproduction.read_reproduction(out).environment == check.environment
    assert "environment: CPU Intel(R) Xeon(R) Processor → AMD EPYC 7B13; instruction set −avx512f" in \
        reproduction.summary_line(check)
    assert environment_difference(ENVIRONMENT, {**ENVIRONMENT, "torch_threads": 4}) == ["torch threads 1 → 4"]
    assert environment_difference({**ENVIRONMENT, "config_hash": "d01046b7"}, {**ENVIRONMENT, "config_hash": "2ab4"}) \
        == ["config hash d01046b7 → 2ab4"]  # another preset: the numbers are not comparable


def test_pages_committed_before_the_record_read_the_index(repo):
    _git(repo, "rm", "-q", "reports/environment.json")
    rows = "".join(f"<tr><td>{k}</td><td><code>{v}</code></td></tr>" for k, v in
                   [("cpu model", "Intel(R) Xeon(R) Processor"), ("cpu flags", "avx2 avx512f"), ("torch threads", 1),
                    ("torch", "2.13.0+cpu")])
    (repo / "reports" / "index.html").write_text(f"<h2>Training environment</h2><table>{rows}</table><h2>Software")
    _git(repo, "add", "reports/index.html")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "index only")
    record, source = reproduction.committed_environment(repo / "reports", repo)
    assert source == "HEAD:reports/index.html"
    assert record == {"cpu_model": "Intel(R) Xeon(R) Processor", "cpu_flags": "avx2 avx512f", "torch_threads": "1",
                      "libraries": {"torch": "2.13.0+cpu"}}
    assert _check(repo, ENVIRONMENT).environment == ["instruction set +sse4_2 +avx +fma"]
    assert _check(repo, None).environment == ["not compared (no regenerated environment record)"]


def test_numbers_without_a_counterpart_or_interval_are_named(repo):
    regenerated = _metrics(90.0, 50.0)
    regenerated["cosface"] = {"lfw": {"10fold": {"accuracy_pct": 70.0}}}
    del regenerated["arcface"]
    (repo / "reports" / "metrics.json").write_text(json.dumps(regenerated))
    notes = _check(repo).numbers.set_index("run")["note"]
    assert notes["cosface"] == "not committed" and notes["arcface"] == "not regenerated"


def test_no_git_or_no_committed_version_is_stated(tmp_path_factory, repo):
    plain = tmp_path_factory.mktemp("plain")  # outside the fixture's git checkout
    (plain / "reports").mkdir(parents=True)
    (plain / "reports" / "metrics.json").write_text(json.dumps(_metrics(90.0, 50.0)))
    check = reproduction.reproduction_check(plain / "reports" / "metrics.json", plain, plain, None)
    assert check.numbers.empty and "no committed version to compare" in check.statement
    assert reproduction.summary_line(check).startswith("Reproduction: nothing compared (")
    (repo / "reports" / "other.json").write_text(json.dumps(_metrics(1.0, 1.0)))
    check = reproduction.reproduction_check(repo / "reports" / "other.json", repo, repo, None)
    assert check.statement == "no reports/other.json committed at HEAD: no committed version to compare"
    with pytest.raises(FileNotFoundError, match="regenerated metrics not found"):
        reproduction.reproduction_check(repo / "absent.json", repo, repo, None)
