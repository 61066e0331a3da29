#!/usr/bin/env bash
# Coverage-guided fuzzing of every target (tests/fuzz/targets.py) with atheris, SECONDS each
# (default 60). New inputs go to a working corpus outside the repository (FUZZ_WORK, default
# /tmp/consortia-fuzz); a crash stops its target, writes crash-* there and makes this exit 1.
# Needs the fuzz extra: pip install -e '.[fuzz]'.
set -u
SECONDS_EACH="${1:-60}"
WORK="${FUZZ_WORK:-/tmp/consortia-fuzz}"
PY="${PYTHON:-python}"
cd "$(dirname "$0")/.."
status=0
for target in wire consensus rpc state_proof; do
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
