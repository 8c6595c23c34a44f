"""CPU-seconds of a process's exit with and without the interpreter's final garbage collections (x2softmax.shutdown).

Usage: python bench/process_exit.py [--repeats 5]
For each set of imports a job or a Snakemake process loads, fresh interpreters import it and exit, taking turns:
plain, then with `skip_final_collection()` registered (what the `x2softmax` command and the workflow files do). The
CPU-seconds are the children's user + system time (os.times), the whole process; the in-process figure before exit is
printed too, so the difference is the exit itself. The minimum over repeats is the steadier figure on a loaded machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

IMPORTS = {  # what a process of each kind has loaded when it exits
    "torch (a training or evaluation job)": "import torch",
    "snakemake.api + torch (a Snakemake process today)": "import snakemake.api, torch",
    "pandas + matplotlib (a report job)": "import pandas, matplotlib.pyplot",
}
SKIP = "from x2softmax.shutdown import skip_final_collection; skip_final_collection(); "
REPORT = "import os; t = os.times(); print(t.user + t.system)"


def run(code: str) -> tuple[float, float]:
    """(CPU-seconds of a fresh interpreter running `code` from start to exit, of which before its exit)."""
    before = os.times()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    after = os.times()
    whole = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return whole, float(out.split()[-1])


def main() -> None:
    """Print, per import set, the exit's CPU-seconds plain and skipped, and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'process':52s} {'exit plain':>10s} {'exit skipped':>12s} {'whole plain':>11s} {'whole skipped':>13s}")
    for label, imports in IMPORTS.items():
        plain, skipped = [], []
        for _ in range(args.repeats):  # taking turns: load on a shared machine hits both alike
            plain.append(run(f"{imports}; {REPORT}"))
            skipped.append(run(f"{SKIP}{imports}; {REPORT}"))
        exits = [min(w - b for w, b in runs) for runs in (plain, skipped)]
        wholes = [min(w for w, _ in runs) for runs in (plain, skipped)]
        print(f"{label:52s} {exits[0]:10.2f} {exits[1]:12.2f} {wholes[0]:11.2f} {wholes[1]:13.2f}"
              f"   whole: {wholes[1] / wholes[0]:.2f}x (median {statistics.median(w for w, _ in skipped):.2f} vs "
              f"{statistics.median(w for w, _ in plain):.2f})")


if __name__ == "__main__":
    main()
