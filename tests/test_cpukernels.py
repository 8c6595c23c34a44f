"""The CPU pins: what each cpu_kernels setting exports, and that a process started under them takes those paths."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from x2softmax import cpukernels

PROBE = ("import torch; torch.ones(2) @ torch.ones(2); "
         "print(torch.backends.cpu.get_cpu_capability(), torch.backends.mkldnn.is_available())")


def test_the_avx2_setting_pins_aten_onednn_and_mkl():
    pins = cpukernels.pin_environment("avx2")
    assert pins == {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "COMPATIBLE",
                    "MKL_DYNAMIC": "FALSE"}
    assert set(pins) <= set(cpukernels.CODE_PATH_VARIABLES)
    assert cpukernels.shell_exports("avx2") == ("export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 "
                                                "MKL_CBWR=COMPATIBLE MKL_DYNAMIC=FALSE; ")
    assert cpukernels.pin_environment("native") == {} and cpukernels.shell_exports("native") == ""
    with pytest.raises(ValueError, match="cpu_kernels='avx512': use one of avx2, native"):
        cpukernels.pin_environment("avx512")


def test_the_setting_an_environment_carries():
    pins = cpukernels.pin_environment("avx2")
    assert cpukernels.pinned_setting(pins) == "avx2"
    assert cpukernels.pinned_setting({**pins, "MKL_CBWR": "AVX2"}) == "native"  # one pin changed: not the setting
    assert cpukernels.pinned_setting({}) == "native"
    assert cpukernels.code_path_environment({"ATEN_CPU_CAPABILITY": "default", "HOME": "/x"}) == {
        "ATEN_CPU_CAPABILITY": "default"}


def test_a_shell_with_the_exports_runs_aten_at_the_pinned_capability():
    env = {k: v for k, v in os.environ.items() if k not in cpukernels.CODE_PATH_VARIABLES}
    line = f"{cpukernels.shell_exports('avx2')}{sys.executable} -c '{PROBE}'"
    out = subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True, check=True).stdout.split()
    native = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                            check=True).stdout.split()
    assert out[0] == ("AVX2" if native[0] in ("AVX2", "AVX512") else native[0])  # never above AVX2
