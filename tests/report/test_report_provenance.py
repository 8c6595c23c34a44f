"""results/environment.json: the commit, machine, CPU and library versions the numbers were produced with."""

from __future__ import annotations

import json

import pytest

from x2softmax.report import provenance


@pytest.mark.slow  # the record asks git for the commit (a process started by the package)
def test_environment_record_names_machine_cpu_threads_and_libraries(tmp_path):
    out = provenance.write_environment(tmp_path / "environment.json")
    record = json.loads(out.read_text())
    assert {"commit", "machine", "cpu_model", "cpu_flags", "cpu_count", "torch_threads", "cpu_kernels",
            "code_path_environment", "aten_cpu_capability", "libraries"} <= set(record)
    assert set(record["libraries"]) == set(provenance.NUMERIC_LIBRARIES)
    assert record["libraries"]["torch"].startswith("2.") and record["torch_threads"] >= 1
    assert provenance.read_environment(tmp_path) == record and provenance.numbers_commit(tmp_path) == record["commit"]
    assert "config_hash" not in record
    (tmp_path / "config.json").write_text('{"preset": "smoke"}')
    with_config = provenance.environment_record(config_json=tmp_path / "config.json")
    assert list(with_config)[:2] == ["commit", "config_hash"] and len(with_config["config_hash"]) == 16


def test_environment_record_names_the_cpu_kernel_pins(monkeypatch):
    from x2softmax.cpukernels import CODE_PATH_VARIABLES, pin_environment

    for name in CODE_PATH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert provenance.cpu_kernels_record()["code_path_environment"] == "none set"
    for name, value in pin_environment("avx2").items():
        monkeypatch.setenv(name, value)
    record = provenance.cpu_kernels_record()
    assert record["cpu_kernels"] == "avx2"
    assert record["code_path_environment"] == ("ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=COMPATIBLE "
                                               "MKL_DYNAMIC=FALSE")
    assert record["aten_cpu_capability"] in ("AVX512", "AVX2", "DEFAULT")  # this process's, chosen when torch loaded


def test_cpu_info_reads_model_and_numeric_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse4_2 avx2 fma avx512f ht\n")
    info = provenance.cpu_info(cpuinfo)
    assert info == {"cpu_model": "Test CPU 9000", "cpu_flags": "sse4_2 avx2 fma avx512f"}
    assert provenance.cpu_info(tmp_path / "absent")["cpu_flags"] == "unknown"


def test_absent_or_broken_records(tmp_path):
    assert provenance.read_environment(tmp_path) is None
    assert "absent" in provenance.numbers_commit(tmp_path)
    (tmp_path / "environment.json").write_text("{broken")
    with pytest.raises(ValueError, match="environment.json: not valid JSON"):
        provenance.read_environment(tmp_path)
    (tmp_path / "environment.json").write_text("[]")
    with pytest.raises(ValueError, match="not an environment record"):
        provenance.read_environment(tmp_path)


def test_the_lock_file_pins_every_numeric_library():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pins = dict(line.split("==") for line in (root / "requirements.lock").read_text().splitlines()
                if line and not line.startswith("#"))
    assert set(provenance.NUMERIC_LIBRARIES) <= set(pins) and pins["torch"] == "2.13.0"
    assert "-c requirements.lock" in (root / "Makefile").read_text()
