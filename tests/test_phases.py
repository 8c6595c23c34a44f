"""CPU-seconds by phase (x2softmax.phases): off unless X2S_CPU_PHASES is set; on, one summary line that parses."""

from __future__ import annotations

import builtins
import time

import pytest

from x2softmax import phases


def _busy(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_without_the_variable_nothing_is_timed_or_printed(monkeypatch, capsys) -> None:
    monkeypatch.delenv(phases.CPU_PHASES_ENV, raising=False)
    assert phases.start() is False and builtins.__import__ is not phases._timed_import
    phases.finish()
    assert capsys.readouterr().err == ""


def test_the_summary_line_counts_imports_data_and_the_rest(monkeypatch, capsys) -> None:
    monkeypatch.setenv(phases.CPU_PHASES_ENV, "1")
    monkeypatch.setattr(phases, "_seconds", {"imports": 0.0, "data": 0.0})
    try:
        assert phases.start() is True
        with phases.reading():
            _busy(0.05)
        _busy(0.05)
    finally:
        phases.finish()
    assert builtins.__import__ is not phases._timed_import  # restored
    err = capsys.readouterr().err
    assert err.startswith(phases.PREFIX) and err.count("\n") == 1
    found = phases.parse("a job's output\n" + err)
    assert found is not None and found["data"] >= 0.05 and found["compute"] >= 0.05 and found["start-up"] > 0


def test_a_log_without_the_line_has_no_phases() -> None:
    assert phases.parse("x2softmax train: ValueError: bad\n") is None
    assert phases.parse(f"{phases.PREFIX} start-up 1.50 data 0.25 compute 9.00\n") == pytest.approx(
        {"start-up": 1.5, "data": 0.25, "compute": 9.0})
