"""Coverage-guided fuzzing of one target with atheris (libFuzzer): ``python -m tests.fuzz.run TARGET [libFuzzer flags]``.

The node's and consensus packages' code is instrumented for coverage; a crash or failed
assertion stops the run and libFuzzer writes the input to ``crash-*`` (``-artifact_prefix=``).
``scripts/fuzz.sh`` runs every target for a bounded time; ``tests/unit/test_fuzz_targets.py``
replays the committed seed corpus without atheris.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import atheris

with atheris.instrument_imports(include=["node", "consensus", "tests.fuzz"]):
    from tests.fuzz import targets
    from tests.fuzz.targets import FIXTURES, TARGETS

OUTCOME_COUNTERS = 8_192  # libFuzzer counters for outcomes inside contracts (targets.outcome_feedback)


def outcome_counters() -> Callable[[str], None]:
    """A feedback function giving each new outcome its own coverage counter (hashed once they run out)."""
    counters = [atheris._reserve_counter() for _ in range(OUTCOME_COUNTERS)]
    assigned: dict[str, int] = {}

    def hit(outcome: str) -> None:
        index = assigned.get(outcome)
        if index is None:
            index = len(assigned) if len(assigned) < OUTCOME_COUNTERS else hash(outcome) % OUTCOME_COUNTERS
            if len(assigned) < OUTCOME_COUNTERS:
                assigned[outcome] = index
        atheris._trace_branch(counters[index])

    return hit


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.fuzz.run {{{','.join(TARGETS)}}} [libFuzzer flags] [corpus dirs]")
    target = TARGETS[argv[1]]
    FIXTURES[argv[1]]()  # built once, before the clock starts
    targets.outcome_feedback = outcome_counters()
    logging.disable(logging.WARNING)  # refused peers and inputs log warnings by the million; errors still show
    atheris.Setup([argv[0], *argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
