#!/usr/bin/env bash
# Coverage-guided fuzzing of every target (tests/fuzz/targets.py) with atheris.
#
#   scripts/fuzz.sh [SECONDS]   run each target for SECONDS (default 60). New inputs go to a
#                               working corpus outside the repository (FUZZ_WORK, default
#                               /tmp/consortia-fuzz); a crash stops its target, writes crash-*
#                               there and makes this exit 1.
#   scripts/fuzz.sh merge       add the working inputs that bring new coverage to the committed
#                               corpus (tests/fuzz/corpus/), which CI replays.
#
# Needs the fuzz extra: pip install -e '.[fuzz]'. PYTHON picks the interpreter.
set -u
WORK="${FUZZ_WORK:-/tmp/consortia-fuzz}"
PY="${PYTHON:-python}"
TARGETS="wire consensus rpc state_proof p2p contract"
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

if [ "${1:-}" = "merge" ]; then
  for target in $TARGETS; do
    # libFuzzer's merge re-runs argv[0]: give it a script that runs this target.
    wrapper="$WORK/run-$target.sh"
    mkdir -p "$WORK/$target"
    printf '#!/bin/sh\ncd "%s" && exec "%s" -m tests.fuzz.run %s "$@"\n' "$ROOT" "$(command -v "$PY")" "$target" > "$wrapper"
    chmod +x "$wrapper"
    "$PY" -c "import sys; from tests.fuzz import run; run.main(['$wrapper', '$target', '-merge=1', 'tests/fuzz/corpus/$target', '$WORK/$target'])" \
      2>&1 | grep -E "MERGE-OUTER: [0-9]+ new" | sed "s/^/$target: /"
  done
  exit 0
fi

SECONDS_EACH="${1:-60}"
status=0
for target in $TARGETS; do
  mkdir -p "$WORK/$target"
  echo "== $target: ${SECONDS_EACH}s"
  if ! "$PY" -m tests.fuzz.run "$target" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 \
      -artifact_prefix="$WORK/$target-" "$WORK/$target" "tests/fuzz/corpus/$target" 2>"$WORK/$target.log"; then
    status=1
    echo "!! $target failed: see $WORK/$target.log and $WORK/$target-crash-*"
  fi
  grep -E "^(Done|#[0-9]+.*(INITED|DONE))" "$WORK/$target.log" | tail -2
done
exit $status
