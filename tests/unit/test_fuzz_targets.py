"""The fuzz targets over their committed corpus, without atheris: CI exercises every target and
its assertions on every run (scripts/fuzz.sh runs them under the coverage-guided fuzzer). The
corpus holds the seeds, what the fuzzer found that adds coverage, and every input that once
failed (``crash-*``), so those stay fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.seeds import CORPUS
from tests.fuzz.targets import TARGETS


def corpus(target: str) -> list[Path]:
    return sorted((CORPUS / target).iterdir())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_target_over_its_seed_corpus(target):
    files = corpus(target)
    assert len(files) >= 4, f"the {target} corpus is missing"
    for path in files:
        TARGETS[target](path.read_bytes())


def test_targets_fail_on_what_they_must_refuse():
    """The targets are not vacuous: a false acceptance or an undocumented error makes them fail."""
    from tests.fuzz import targets
    from tests.fuzz.fixture import fuzz_chain

    fc = fuzz_chain()
    case = next(c for c in fc.state_proofs if c.value is not None)
    original = targets.verify_state_proof
    try:
        targets.verify_state_proof = lambda *a, **k: b"a lie"
        with pytest.raises(AssertionError, match="false value"):
            targets.state_proof(b"\x01" + bytes([fc.state_proofs.index(case), 0, 0, 0]))
    finally:
        targets.verify_state_proof = original
    with pytest.raises(AssertionError, match="undocumented"):
        targets._check_reply({"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "internal error"}},
                             targets.documented_codes())


def test_tx_send_with_a_byte_keyed_map_is_a_decode_error_not_an_internal_error():
    """The fuzzers' bytes-keyed map, sent as a transaction: -32001 decode_error (it was -32603)."""
    import json

    import msgpack

    from tests.fuzz.fixture import fuzz_chain

    raw = msgpack.packb({"a": 1, b"b": 2}, use_bin_type=True)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tx_send", "params": ["0x" + raw.hex()]}).encode()
    reply = fuzz_chain().rpc(body)
    assert reply["error"]["code"] == -32001, reply
