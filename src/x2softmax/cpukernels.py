"""The CPU code paths torch's numbers take, pinned so that training gives the same bytes on any x86-64 CPU with AVX2.

ATen's vectorised kernels, oneDNN's convolutions and MKL's matrix products each pick their code path from the
instruction set (and MKL from the vendor) of the CPU they run on, and each path rounds differently: the same run
trained on an AVX-512 and an AVX2-only machine gives other weights (docs/statistics.md, "The same bytes on any
x86-64 CPU"). Each library reads its knob from the environment when it loads, so the workflow exports the pins in
every job's shell (`workflow/rules/common.smk`, config key `cpu_kernels`) before the job's Python starts; setting them
inside a process that has already run a kernel would change nothing.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping

# `cpu_kernels` in the config: "avx2" pins every CPU code path to one that any x86-64 CPU with AVX2 runs the same way
# (the embedded default); "native" leaves each library its own choice (the paper preset: on GPUs the CPU's kernels
# only prepare batches, and the pins would slow the CPU-side work for nothing).
CPU_KERNELS = ("avx2", "native")
PINS: dict[str, dict[str, str]] = {
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",  # ATen's dispatch: its AVX2 kernels, not AVX-512 (nor the scalar default)
        "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN's convolutions: no AVX-512 JIT kernel even where the CPU has one
        # MKL's branch: COMPATIBLE is the only branch MKL documents as one code path on Intel and non-Intel CPUs alike
        # (SSE2 without the approximate rcpps/rsqrtps); its AVX2 branch exists only on Intel CPUs (elsewhere MKL falls
        # back to its own choice, measured: MKL_VERBOSE names the generic path on AMD whatever MKL_CBWR=AVX2 asks).
        "MKL_CBWR": "COMPATIBLE",
        "MKL_DYNAMIC": "FALSE",  # MKL's reproducibility condition: the thread count the job sets, never fewer
    },
    "native": {},
}
# Every variable that chooses a CPU code path or a thread count of the numeric libraries (recorded with the numbers).
CODE_PATH_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_CBWR",
                       "MKL_ENABLE_INSTRUCTIONS", "MKL_DYNAMIC", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def pin_environment(setting: str) -> dict[str, str]:
    """The environment variables a `cpu_kernels` setting sets (none for "native")."""
    if setting not in PINS:
        raise ValueError(f"cpu_kernels={setting!r}: use one of {', '.join(CPU_KERNELS)}")
    return dict(PINS[setting])


def shell_exports(setting: str) -> str:
    """A shell `export ...; ` line setting the pins of `setting` ("" for "native")."""
    pins = pin_environment(setting)
    return f"export {' '.join(f'{k}={shlex.quote(v)}' for k, v in pins.items())}; " if pins else ""


def code_path_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The code-path and thread variables of CODE_PATH_VARIABLES set in `environ`, as they are set."""
    return {name: environ[name] for name in CODE_PATH_VARIABLES if name in environ}


def pinned_setting(environ: Mapping[str, str] = os.environ) -> str:
    """The `cpu_kernels` setting whose pins `environ` carries in full ("native" where none matches)."""
    for setting in CPU_KERNELS:
        pins = PINS[setting]
        if pins and all(environ.get(k) == v for k, v in pins.items()):
            return setting
    return "native"
