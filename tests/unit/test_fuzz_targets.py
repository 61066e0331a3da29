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


def test_p2p_target_catches_what_it_must():
    """The p2p target is not vacuous: a handler that raises something other than ConsortiaError,
    or an answer over the frame limit fail it."""
    from tests.fuzz import targets
    from tests.fuzz.peer import peer_node
    from tests.fuzz.seeds import _frames

    node = peer_node()
    status = _frames(0, (0, {"t": "status", "height": 9}))
    original = type(node.service.sync).on_status
    try:
        type(node.service.sync).on_status = lambda self, peer, msg: int(msg["nope"])  # type: ignore[method-assign]
        with pytest.raises(KeyError):
            targets.p2p(status)
        type(node.service.sync).on_status = lambda self, peer, msg: self.net.send(peer, {"t": "x", "pad": b"0" * 10**8})  # type: ignore[method-assign]
        with pytest.raises(AssertionError, match="over the frame limit"):
            targets.p2p(status)
    finally:
        type(node.service.sync).on_status = original  # type: ignore[method-assign]
    targets.p2p(status)  # and the real handler passes


def test_p2p_target_commits_only_the_certified_block_and_starts_again():
    """The seed that hands the node the source's certified block 4 commits it; the node is then rebuilt at height 3."""
    from tests.fuzz import targets
    from tests.fuzz.peer import NODE_HEIGHT, peer_node
    from tests.fuzz.seeds import _frames

    node = peer_node()
    builds = node.builds
    block, cert = node.blocks[NODE_HEIGHT]
    targets.p2p(_frames(0, (0, {"t": "blocks", "items": [[block, cert]]})))
    assert node.builds == builds + 1 and node.chain.height == NODE_HEIGHT
    forged = bytearray(cert)
    forged[-1] ^= 1
    targets.p2p(_frames(0, (0, {"t": "blocks", "items": [[block, bytes(forged)]]})))
    assert node.builds == builds + 1 and node.chain.height == NODE_HEIGHT


def test_contract_target_catches_what_it_must():
    """The contract target is not vacuous: a host exception in a contract, or a failed call that
    still wrote state, fail it."""
    from node.execution.system.sysconfig import SysConfig
    from tests.fuzz import targets
    from tests.fuzz.contracts import contract_chain
    from tests.fuzz.seeds import contract_seeds

    fx = contract_chain()
    sysconfig = next(i for i, c in enumerate(fx.callees) if c.name == SysConfig.name)
    seed = next(s for s in contract_seeds() if s[0] == sysconfig)
    try:
        SysConfig.call = lambda self, ctx, method, args: [][1]  # type: ignore[method-assign]
        with pytest.raises(AssertionError, match="host exception"):
            targets.contract(seed)

        def writes_then_fails(self, ctx, method, args):
            ctx.state.set(b"k", b"v")
            raise targets.ConsortiaError("refused")

        executor = fx.cc.chain.executor
        real_apply = executor._apply

        def leaky_apply(ctx_tx, block_state, info, index):  # a broken executor: merges a failed call's writes
            block_state.set(b"leak", b"v")
            return real_apply(ctx_tx, block_state, info, index)

        SysConfig.call = writes_then_fails  # type: ignore[method-assign]
        executor._apply = leaky_apply  # type: ignore[method-assign]
        with pytest.raises(AssertionError, match="failed but wrote state"):
            targets.contract(seed)
    finally:
        del SysConfig.call  # back to SystemContract.call
        fx.cc.chain.executor.__dict__.pop("_apply", None)
    targets.contract(seed)
