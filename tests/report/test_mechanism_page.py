"""Page 08, the controlled study (issue 36): every verdict on the committed page is recomputed from the tables it links
(reports/mechanism/tables), the scoreboard rows are labelled "controlled synthetic world", the study's runs are
healthy, and the study page is not one of the default's pages."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest

from x2softmax.analysis import mechanism as M
from x2softmax.report import mechanism as R
from x2softmax.report.artifacts import NOTEBOOKS, PAGES, table_paths
from x2softmax.report.claims import FAILS, HOLDS, NO_DIFFERENCE

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "reports" / "mechanism"
PAGE = STUDY / "08_mechanism.html"
STUDY_TABLES = Path(NOTEBOOKS["08_mechanism"]["paths"]["tables_dir"])
QUESTIONS = {"dose_response": "08_dose_slopes", "lookalike": "08_lookalike", "margin_slopes": "08_margin_slopes",
             "convergence": "08_convergence_slopes"}


def linked_tables() -> dict[str, pd.DataFrame]:
    """The question tables the committed page links, by their study names."""
    return {name: pd.read_csv(STUDY / "tables" / f"{stem}.csv", keep_default_na=False, na_values=[""])
            for name, stem in QUESTIONS.items()}


def expected(low: float, high: float, up: str, down: str, none: str) -> str:
    return up if low > 0 else down if high < 0 else none


def test_the_page_links_every_table_it_declares() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for path in table_paths("08_mechanism", STUDY / "tables"):
        assert path.is_file(), path
        assert f'href="tables/{path.name}"' in text


def test_every_question_verdict_is_recomputed_from_its_table() -> None:
    tables = linked_tables()
    for r in tables["dose_response"].to_dict("records"):
        assert r["verdict"] == expected(r["low"], r["high"], M.GROWS, M.SHRINKS, M.NONE)
    for r in tables["lookalike"].to_dict("records"):
        assert r["verdict"] == expected(r["low"], r["high"], "X2 higher", "X2 lower", "no detectable difference")
    for r in tables["margin_slopes"].to_dict("records"):
        assert r["realised"] == expected(r["low"], r["high"], "grows", "shrinks", "flat")
        assert r["matches_paper"] == (r["realised"] == r["paper"])
        assert r["matches_analytic"] == (r["realised"] == r["analytic"])
    for r in tables["convergence"].to_dict("records"):
        if pd.isna(r["reference"]):
            assert r["verdict"] == expected(r["low"], r["high"], M.CLOSE_WORSE, M.CLOSE_BETTER, M.NONE_SLOPE)
        else:
            assert r["verdict"] == expected(r["low"], r["high"], f"closeness costs {r['loss']} more than X2",
                                            f"closeness costs {r['loss']} less than X2", M.NONE_DIFFERENCE)


def test_the_scoreboard_and_the_verdict_text_on_the_page_are_those_of_the_linked_tables() -> None:
    tables = linked_tables()
    board = pd.read_csv(STUDY / "tables" / "08_scoreboard.csv", keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(board, R.scoreboard(tables), check_dtype=False)
    assert set(board["evidence"]) == {R.WORLD}
    text = html.unescape(re.sub(r"<[^>]+>", "", PAGE.read_text(encoding="utf-8")))
    for line in R.verdict_text(tables).splitlines():
        assert line.lstrip("- ").replace("**", "") in text
    assert R.WORLD_SENTENCE in text


def test_the_study_runs_are_distinct_networks_none_saturated() -> None:
    health = pd.read_csv(STUDY / "tables" / "08_run_health.csv").iloc[0]
    assert health["runs"] == 54 and health["distinct_backbones"] == 54
    assert health["identical_pairs"] == 0 and health["saturated_runs"] == 0


def test_the_study_page_is_not_one_of_the_default_pages() -> None:
    # the default's index links it (tests/report/test_report_index.py) but never builds it
    assert "08_mechanism" not in PAGES and NOTEBOOKS["08_mechanism"]["study"] == "mechanism"
    assert all(str(path).startswith("reports/mechanism/") for path in table_paths("08_mechanism", STUDY_TABLES))


def scoreboard_tables(low: float, high: float) -> dict[str, pd.DataFrame]:
    """Question tables whose every effect has the interval [low, high]."""
    verdicts = {"dose": expected(low, high, M.GROWS, M.SHRINKS, M.NONE),
                "look": expected(low, high, "X2 higher", "X2 lower", "no detectable difference")}
    word = expected(low, high, "grows", "shrinks", "flat")
    return {
        "dose_response": pd.DataFrame([{"benchmark": "lfw", "metric": "overall 10-fold accuracy", "baseline": "arcface",
                                        "slope": (low + high) / 2, "low": low, "high": high, "df": 36, "worlds": 6,
                                        "verdict": verdicts["dose"]}]),
        "lookalike": pd.DataFrame([{"benchmark": "lfw", "baseline": "cosface", "quantity": q, "effect": 0.0,
                                    "low": low, "high": high, "df": 30, "verdict": verdicts["look"]}
                                   for q in M.LOOKALIKE_QUANTITIES]),
        "margin_slopes": pd.DataFrame([{"loss": loss, "realised_slope": 0.0, "low": low, "high": high, "df": 12,
                                        "runs": 18, "analytic_slope": 0.0, "realised": word, "analytic": "flat",
                                        "paper": M.PAPER_DIRECTION[loss], "matches_analytic": word == "flat",
                                        "matches_paper": word == M.PAPER_DIRECTION[loss]}
                                       for loss in ("arcface", "cosface", "x2softmax")]),
        "convergence": pd.DataFrame([{"loss": "arcface", "reference": M.X2, "effect": 0.0, "low": low, "high": high,
                                      "df": 24, "verdict": ""}]),
    }


@pytest.mark.parametrize(("low", "high", "verdict"), [(0.1, 0.3, HOLDS), (-0.3, -0.1, FAILS),
                                                      (-0.1, 0.1, NO_DIFFERENCE)])
def test_scoreboard_verdicts_follow_the_intervals(low: float, high: float, verdict: str) -> None:
    board = R.scoreboard(scoreboard_tables(low, high)).set_index("subject")
    assert board.loc["x2softmax − arcface", "verdict"] == verdict  # the dose-response row
    assert board.loc["x2softmax − cosface", "verdict"] == verdict  # the adjusted look-alike row only
    assert board.loc["arcface − x2softmax", "verdict"] == verdict  # convergence
    margin = {"grows": HOLDS, "shrinks": FAILS, "flat": NO_DIFFERENCE}[expected(low, high, "grows", "shrinks", "flat")]
    assert board.loc["x2softmax", "verdict"] == margin
    assert board.loc["arcface", "verdict"] == (R.CONSISTENT_FLAT if margin == NO_DIFFERENCE else FAILS)
    assert set(board["evidence"]) == {R.WORLD}
