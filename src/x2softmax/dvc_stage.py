"""DVC's stages: params.yaml's values checked against a safe pattern, then `make STAGE PRESET=...` without a shell.

dvc.yaml interpolates nothing into a command (DVC runs commands through a shell, and make expands `$(...)` in a
variable): each stage installs the venv (`make -s .venv/.installed`) and runs this module (`make dvc-STAGE` by hand);
it reads params.yaml itself, refuses any value outside SAFE_VALUE with one line naming the file and the key, and
passes the preset to make as one argument.

A failed stage ends in DVC's own line naming only the command (`ERROR: failed to reproduce 'STAGE': failed to run:
.venv/bin/python -m x2softmax.dvc_stage STAGE, exited with N`, printed after the command): the project's line,
naming the file and key, comes right above it. So dvc.yaml calls this module, not make (whose `make: *** [...]
Error N` would come between), and make's closing line of the stage's own make call is left out (`run_stage`).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from x2softmax.config import ConfigError, read_yaml

STAGES = ("data", "replicate")
KEYS = ("preset", "data_root", "data_meta")
SAFE_VALUE = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9_./+-]*)?$")  # no shell or make metacharacter, no option
MAKE_CLOSING = re.compile(r"^make(?:\[\d+\])?: \*\*\* \[[^\]]*\] Error \d+$")  # names only the failed target


def read_params(path: Path) -> dict[str, str]:
    """The stage parameters of params.yaml, each a string matching SAFE_VALUE; ConfigError naming the key."""
    params = read_yaml(path)
    values = {}
    for key in KEYS:
        value = params.get(key, "")
        if not isinstance(value, str) or not SAFE_VALUE.match(value) or ".." in Path(value).parts:
            raise ConfigError(f"{path}: key '{key}' is {value!r}; it must be a plain name or relative path "
                              "(letters, digits, _ . / + -, not starting with - or containing ..)")
        values[key] = value
    return values


def make_command(stage: str, params: dict[str, str]) -> list[str]:
    """The make invocation of a DVC stage (an argument list: no shell)."""
    return ["make", stage, f"PRESET={params['preset']}"]


def run_stage(argv: Sequence[str]) -> int:
    """Run `argv` (the stage's make call), its stderr passed through line by line except make's closing line; its
    exit code. The line a failed recipe printed last (the project's, naming the file) stays the last before DVC's."""
    proc = subprocess.Popen(list(argv), stderr=subprocess.PIPE, text=True, errors="replace")
    assert proc.stderr is not None
    for line in proc.stderr:
        if not MAKE_CLOSING.match(line.rstrip("\n")):
            sys.stderr.write(line)
            sys.stderr.flush()
    return proc.wait()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: `python -m x2softmax.dvc_stage STAGE [--params params.yaml]`."""
    parser = argparse.ArgumentParser(prog="python -m x2softmax.dvc_stage", description=__doc__)
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    try:
        params = read_params(Path(args.params))
    except ConfigError as err:
        sys.exit(f"x2softmax dvc {args.stage}: {err}")
    sys.exit(run_stage(make_command(args.stage, params)))


if __name__ == "__main__":
    main()
