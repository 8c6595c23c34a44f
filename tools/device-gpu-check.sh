#!/usr/bin/env bash
# The GPU check on a lent machine as it is: its own python3 (torch with CUDA), no network, nothing installed but
# the missing wheels from the carried bundle (make wheels, here). One 10-minute command; docs/gpu.md "On a lent GPU machine".
#
#   tools/device-gpu-check.sh [--dry] [OUT_DIR] [gpu-check options]   (OUT_DIR: $OUT if set, else results/device)
#   e.g. --run-smoke (with --dry: the real smoke workflow on the CPU), --smoke-subset (two losses and one page, not
#   the whole DAG: the tests use both), --checks smoke_workflow (one check)
#
# stdout: one JSON line (the summary). stderr: the preflight line, then one line per check. Files in OUT_DIR (3):
# gpu_check.json (rewritten after every check), gpu_check.log (everything printed), preflight.txt.
# Environment: PYTHON (python3), WHEELS (.whl), SITE (/tmp/x2s-site), BUDGET_S (400: seconds of checks),
# HARD_LIMIT_S (480: the whole check is killed, with its children, after this).
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=()
if [ "${1:-}" = "--dry" ]; then DRY=(--dry); shift; fi
OUT_DIR=${OUT:-results/device}
if [ $# -gt 0 ] && [[ $1 != --* ]]; then OUT_DIR=$1; shift; fi
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/x2s-site}
BUDGET_S=${BUDGET_S:-400}
HARD_LIMIT_S=${HARD_LIMIT_S:-480}
mkdir -p "$OUT_DIR"
export PYTHONPATH="$PWD/src:$SITE${PYTHONPATH:+:$PYTHONPATH}" PATH="$SITE/bin:$PATH" PYTHONUNBUFFERED=1
export MPLBACKEND=Agg PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1

"$PY" -m x2softmax.gpucheck.preflight --wheels "$WHEELS" --site "$SITE" "${DRY[@]}" 2>&1 | tee "$OUT_DIR/preflight.txt" >&2
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
  printf '{"ok": false, "finished": false, "error": "preflight failed", "preflight": %s}\n' \
    "$("$PY" -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read().strip()))' "$OUT_DIR/preflight.txt")"
  exit "$status"
fi
# At the hard limit timeout sends SIGTERM: the check stops its Snakemake process group and exits (SIGKILL 10 s on).
timeout -k 10 "$HARD_LIMIT_S" "$PY" -m x2softmax gpu-check "${DRY[@]}" --budget "$BUDGET_S" "$@" \
  --out "$OUT_DIR/gpu_check.json" >"$OUT_DIR/gpu_check.stdout" 2> >(tee "$OUT_DIR/gpu_check.log" >&2)
status=$?
cat "$OUT_DIR/gpu_check.stdout" >>"$OUT_DIR/gpu_check.log"
rm -f "$OUT_DIR/gpu_check.stdout"
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "device-gpu-check: killed after ${HARD_LIMIT_S} s; the summary holds the checks finished by then" >&2
fi
if [ -s "$OUT_DIR/gpu_check.json" ]; then tail -n 1 "$OUT_DIR/gpu_check.json"; else
  echo '{"ok": false, "finished": false, "error": "no summary written"}'; fi
exit "$status"
