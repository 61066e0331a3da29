"""The chain as consensus sees it: propose, validate, commit; and the pool's admission rules."""

from __future__ import annotations

import msgpack
import pytest

from consensus.certificate import verify_certificate
from node.chain import Chain
from node.errors import BadSignature, ConfigError, ConsensusError, DecodeError, DuplicateTransaction, InvalidTransaction, PoolFull
from node.store.chainstore import ChainStore
from node.txpool import PoolLimits
from node.wire.types import Block, BlockHeader, CommitCertificate, Vote, commit_vote_bytes
from tests.conftest import COMMITTEE, SYSCONFIG, make_testnet, set_param


def seal(chain: Chain, key) -> Block:
    """Propose and commit one block as the only validator, with its one-vote certificate."""
    head = chain.head()
    proposal = chain.propose(height=head.height + 1, view=0, proposer=key.public_bytes,
                             timestamp_ms=head.timestamp_ms + 1, max_txs=chain.params().block_tx_limit)
    vote = Vote(key.public_bytes, chain.suite.sign(key.private_bytes,
                                                   commit_vote_bytes(chain.chain_id, head.height + 1, 0, proposal.block_hash)))
    chain.commit(proposal.block, CommitCertificate(chain.chain_id, head.height + 1, 0, proposal.block_hash, (vote,)))
    return proposal.block


def test_genesis_is_committed_once(chain, testnet, tmp_path):
    assert chain.height == 0
    assert chain.validators() == [testnet.validator.public_bytes]
    assert chain.params().block_tx_limit == 2000


def test_reopen_with_other_genesis_is_refused(testnet, tmp_path):
    store = ChainStore(tmp_path / "d")
    Chain(testnet.genesis, store)
    store.close()
    other = make_testnet(testnet.suite.name)
    store = ChainStore(tmp_path / "d")
    with pytest.raises(ConfigError, match="different chain"):
        Chain(other.genesis, store)
    store.close()


def test_transactions_commit_with_receipts_and_certificate(chain, testnet):
    ok = testnet.tx(testnet.admin, **set_param("block_interval_ms", 500))
    denied = testnet.tx(testnet.user, **set_param("block_interval_ms", 700))
    h_ok = chain.submit(ok.encode())
    h_denied = chain.submit(denied.encode())
    block = seal(chain, testnet.validator)
    assert block.height == 1 and len(block.txs) == 2
    r_ok = chain.store.get_receipt_at(*chain.store.get_tx_location(h_ok))
    r_denied = chain.store.get_receipt_at(*chain.store.get_tx_location(h_denied))
    assert r_ok.ok and "ParamChanged" in [e.name for e in r_ok.events]
    assert not r_denied.ok and "only committee members may propose" in r_denied.error
    assert chain.params().block_interval_ms == 500
    cert = chain.store.get_certificate(1)
    verify_certificate(testnet.suite, cert, chain_id=chain.chain_id, height=1,
                       block_hash=chain.store.get_block_hash(1), validators=chain.validators())
    assert len(chain.pool) == 0


def test_failed_transaction_leaves_no_state(chain, testnet):
    tx = testnet.tx(testnet.admin, **set_param("block_interval_ms", 5))  # below minimum
    h = chain.submit(tx.encode())
    seal(chain, testnet.validator)
    r = chain.store.get_receipt_at(*chain.store.get_tx_location(h))
    assert not r.ok and r.error == "parameter 'block_interval_ms' must be between 10 and 600000" and r.fuel_used > 0
    assert chain.params().block_interval_ms == 1000


def test_out_of_fuel(chain, testnet):
    h = chain.submit(testnet.tx(testnet.admin, **set_param("min_seal_ms", 5), fuel_limit=1500).encode())
    seal(chain, testnet.validator)
    r = chain.store.get_receipt_at(*chain.store.get_tx_location(h))
    assert not r.ok and "out of fuel" in r.error and r.fuel_used == 1500
    assert chain.params().min_seal_ms == 20


def test_unknown_contract_and_method_fail_cleanly(chain, testnet):
    h1 = chain.submit(testnet.tx(to=b"\x07" * 20).encode())
    h2 = chain.submit(testnet.tx(method="nope").encode())
    h3 = chain.submit(testnet.tx(**set_param("block_tx_limit", 3)).encode())  # the user is no committee member
    seal(chain, testnet.validator)
    errs = [chain.store.get_receipt_at(*chain.store.get_tx_location(h)).error for h in (h1, h2, h3)]
    assert "no contract" in errs[0] and "unknown method" in errs[1] and "only committee members" in errs[2]


def test_bad_msgpack_args_fail_the_tx_only(chain, testnet):
    tx = testnet.tx(method="get")
    bad = type(tx)(**{**tx.to_map(), "args": b"\xc1\xc1", "signature": b""})
    bad = type(tx)(**{**bad.to_map(), "signature": testnet.suite.sign(testnet.user.private_bytes, bad.signing_bytes())})
    h = chain.submit(bad.encode())
    seal(chain, testnet.validator)
    r = chain.store.get_receipt_at(*chain.store.get_tx_location(h))
    assert not r.ok and "msgpack" in r.error


def test_query_is_read_only(chain, testnet):
    out = msgpack.unpackb(chain.query(SYSCONFIG, "get", msgpack.packb({"key": "block_tx_limit"})))
    assert out == 2000
    from node.errors import ExecutionError

    with pytest.raises(ExecutionError, match="cannot run as a query"):
        chain.query(COMMITTEE, "propose", msgpack.packb(set_param("block_tx_limit", 3)["args"]))


# --- admission -----------------------------------------------------------------------------


def test_bad_signature_rejected(chain, testnet):
    tx = testnet.tx()
    forged = type(tx)(**{**tx.to_map(), "signature": bytes(len(tx.signature))})
    with pytest.raises(BadSignature):
        chain.submit(forged.encode())
    other = testnet.tx(testnet.admin)
    swapped = type(tx)(**{**tx.to_map(), "signature": other.signature})
    with pytest.raises(BadSignature):
        chain.submit(swapped.encode())
    assert len(chain.pool) == 0


def test_wrong_chain_id_rejected(chain, testnet):
    with pytest.raises(InvalidTransaction, match="wrong chain id"):
        chain.submit(testnet.tx(chain_id="other-chain").encode())


def test_expired_and_far_future_rejected(chain, testnet):
    with pytest.raises(InvalidTransaction, match="expired"):
        chain.submit(testnet.tx(expiry_height=0).encode())
    with pytest.raises(InvalidTransaction, match="too far ahead"):
        chain.submit(testnet.tx(expiry_height=10_000).encode())


def test_duplicate_and_replayed_nonce_rejected(chain, testnet):
    tx = testnet.tx(nonce=b"r" * 16)
    chain.submit(tx.encode())
    with pytest.raises(DuplicateTransaction):
        chain.submit(tx.encode())
    with pytest.raises(DuplicateTransaction, match="nonce"):
        chain.submit(testnet.tx(nonce=b"r" * 16, method="get", args={"key": "max_tx_bytes"}).encode())
    seal(chain, testnet.validator)
    with pytest.raises(DuplicateTransaction):
        chain.submit(tx.encode())  # committed
    with pytest.raises(DuplicateTransaction, match="nonce"):
        chain.submit(testnet.tx(nonce=b"r" * 16, expiry_height=60).encode())  # replay with new body


def test_key_from_other_suite_rejected(chain, testnet):
    other = make_testnet("std" if testnet.suite.name == "sm" else "sm")
    foreign = other.tx(chain_id=testnet.genesis.chain_id)
    with pytest.raises(InvalidTransaction, match="suite"):
        chain.submit(foreign.encode())


def test_garbage_rejected(chain):
    for raw in (b"", b"\x00", b"\xc1", b"\x81\xa1a\x01", b"x" * 100):
        with pytest.raises((DecodeError, InvalidTransaction)):
            chain.submit(raw)


def test_oversized_rejected(chain, testnet):
    tx = testnet.tx(method="get", args={"blob": b"x" * (700 * 1024)})
    with pytest.raises(InvalidTransaction, match="limit"):
        chain.submit(tx.encode())


def test_pool_full_and_fair_selection(testnet, tmp_path):
    store = ChainStore(tmp_path / "d")
    chain = Chain(testnet.genesis, store, pool_limits=PoolLimits(capacity=6, per_sender=4))
    heavy = [testnet.tx(testnet.admin) for _ in range(4)]
    for tx in heavy:
        chain.submit(tx.encode())
    with pytest.raises(PoolFull, match="sender"):
        chain.submit(testnet.tx(testnet.admin).encode())
    light = [testnet.tx(testnet.user) for _ in range(2)]
    for tx in light:
        chain.submit(tx.encode())
    with pytest.raises(PoolFull, match="full"):
        chain.submit(testnet.tx(testnet.validator).encode())
    picked = chain.pool.select(4)
    senders = [p.tx.sender_pubkey for p in picked]
    assert senders.count(testnet.user.public_bytes) == 2  # the light sender is not starved
    store.close()


# --- validation of blocks from others -------------------------------------------------------


def test_validate_rejects_tampered_blocks(testnet, tmp_path):
    a = Chain(testnet.genesis, ChainStore(tmp_path / "a"))
    b = Chain(testnet.genesis, ChainStore(tmp_path / "b"))
    a.submit(testnet.tx(testnet.admin, **set_param("min_seal_ms", 7)).encode())
    proposal = a.propose(height=1, view=0, proposer=testnet.validator.public_bytes, timestamp_ms=1_700_000_000_500, max_txs=10)
    assert b.validate(proposal.block) == proposal.block_hash
    hdr = proposal.block.header
    for field, value in (("state_root", b"\x01" * 32), ("tx_root", b"\x02" * 32), ("receipt_root", b"\x03" * 32),
                         ("parent_hash", b"\x04" * 32), ("height", 2)):
        bad = Block(header=BlockHeader(**{**hdr.to_map(), field: value}), txs=proposal.block.txs)
        with pytest.raises(ConsensusError):
            b.validate(bad)
    a.store.close()
    b.store.close()


# --- pipelining: blocks executed over uncommitted parents -----------------------------------


def _certify(chain: Chain, key, block: Block) -> CommitCertificate:
    block_hash = chain.suite.hash(block.header.encode())
    vote = Vote(key.public_bytes, chain.suite.sign(key.private_bytes, commit_vote_bytes(chain.chain_id, block.height, 0, block_hash)))
    return CommitCertificate(chain.chain_id, block.height, 0, block_hash, (vote,))


def test_child_of_a_pending_block_executes_on_its_state(testnet, tmp_path):
    a = Chain(testnet.genesis, ChainStore(tmp_path / "a"))
    b = Chain(testnet.genesis, ChainStore(tmp_path / "b"))
    proposer = testnet.validator.public_bytes
    first = testnet.tx(testnet.admin, **set_param("block_tx_limit", 3))
    a.submit(first.encode())
    p1 = a.propose(height=1, view=0, proposer=proposer, timestamp_ms=1_700_000_000_500, max_txs=10)
    # Arrives after block 1 was built: goes into block 2, which sees block 1's parameter change.
    second = testnet.tx(testnet.admin, **set_param("min_seal_ms", 9))
    a.submit(second.encode())
    p2 = a.propose(height=2, view=0, proposer=proposer, timestamp_ms=1_700_000_000_600, max_txs=10,
                   parent_hash=p1.block_hash)
    assert [t.nonce for t in p1.block.txs] == [first.nonce]
    assert [t.nonce for t in p2.block.txs] == [second.nonce]  # block 1's tx is not proposed twice
    # Another node validates block 2 before block 1 commits anywhere.
    assert b.validate(p1.block) == p1.block_hash
    assert b.validate(p2.block) == p2.block_hash
    for chain in (a, b):
        chain.commit(p1.block, _certify(chain, testnet.validator, p1.block))
        chain.commit(p2.block, _certify(chain, testnet.validator, p2.block))
        assert chain.params().block_tx_limit == 3 and chain.params().min_seal_ms == 9
        assert chain.pending_count == 0
    assert a.head() == b.head()
    a.store.close()
    b.store.close()


def test_pending_parent_nonces_cannot_be_replayed(testnet, tmp_path):
    a = Chain(testnet.genesis, ChainStore(tmp_path / "a"))
    b = Chain(testnet.genesis, ChainStore(tmp_path / "b"))
    proposer = testnet.validator.public_bytes
    tx = testnet.tx(testnet.admin, **set_param("min_seal_ms", 5))
    a.submit(tx.encode())
    p1 = a.propose(height=1, view=0, proposer=proposer, timestamp_ms=1_700_000_000_500, max_txs=10)
    b.validate(p1.block)
    # A Byzantine primary puts the same transaction into the child block as well.
    b2 = Chain(testnet.genesis, ChainStore(tmp_path / "c"))
    b2.submit(tx.encode())
    replay = b2.propose(height=1, view=0, proposer=proposer, timestamp_ms=1_700_000_000_600, max_txs=10)
    hdr = BlockHeader(**{**replay.block.header.to_map(), "height": 2, "parent_hash": p1.block_hash})
    with pytest.raises(ConsensusError):
        b.validate(Block(header=hdr, txs=replay.block.txs))
    # A block whose parent nobody has is refused, and so is a commit that skips its parent.
    orphan = BlockHeader(**{**replay.block.header.to_map(), "height": 2, "parent_hash": b"\x07" * 32})
    with pytest.raises(ConsensusError, match="neither our head nor a pending block"):
        b.validate(Block(header=orphan, txs=replay.block.txs))
    p2 = a.propose(height=2, view=0, proposer=proposer, timestamp_ms=1_700_000_000_700, max_txs=10, parent_hash=p1.block_hash)
    with pytest.raises(ConsensusError, match="does not extend the committed head"):
        a.commit(p2.block, _certify(a, testnet.validator, p2.block))
    for c in (a, b, b2):
        c.store.close()


def test_abandoned_pending_blocks_are_pruned_on_commit(testnet, tmp_path):
    a = Chain(testnet.genesis, ChainStore(tmp_path / "a"))
    proposer = testnet.validator.public_bytes
    a.submit(testnet.tx(testnet.admin, **set_param("min_seal_ms", 5)).encode())
    x1 = a.propose(height=1, view=0, proposer=proposer, timestamp_ms=1_700_000_000_500, max_txs=10)
    y1 = a.propose(height=1, view=1, proposer=proposer, timestamp_ms=1_700_000_000_501, max_txs=10)
    a.propose(height=2, view=0, proposer=proposer, timestamp_ms=1_700_000_000_600, max_txs=10, parent_hash=x1.block_hash)
    y2 = a.propose(height=2, view=1, proposer=proposer, timestamp_ms=1_700_000_000_600, max_txs=10, parent_hash=y1.block_hash)
    assert a.pending_count == 4
    a.commit(y1.block, _certify(a, testnet.validator, y1.block))
    assert a.pending_count == 1  # only y2 still descends from the head
    a.commit(y2.block, _certify(a, testnet.validator, y2.block))
    assert a.pending_count == 0
    a.store.close()


def test_pending_validator_set_change_stops_the_pipeline(testnet, tmp_path, monkeypatch):
    from node.chain import PendingBlock
    from node.execution.system.sysconfig import node_key

    a = Chain(testnet.genesis, ChainStore(tmp_path / "a"))
    proposer = testnet.validator.public_bytes
    p1 = a.propose(height=1, view=0, proposer=proposer, timestamp_ms=1_700_000_000_500, max_txs=10)
    pending = a._pending[p1.block_hash]
    pending.result.state_writes[node_key(b"\x02" * 33)] = b"\x80"
    with pytest.raises(ConsensusError, match="node list"):
        a.propose(height=2, view=0, proposer=proposer, timestamp_ms=1_700_000_000_600, max_txs=10, parent_hash=p1.block_hash)
    assert isinstance(pending, PendingBlock)
    a.store.close()


def test_block_transactions_are_pooled_once_verified(testnet, tmp_path, monkeypatch):
    """A transaction that reaches us inside a block before its forwarded copy is verified once:
    the copy is then a known duplicate, refused before any signature check."""
    a = Chain(testnet.genesis, ChainStore(tmp_path / "a"))
    b = Chain(testnet.genesis, ChainStore(tmp_path / "b"))
    tx = testnet.tx(testnet.admin, **set_param("min_seal_ms", 5))
    a.submit(tx.encode())
    p1 = a.propose(height=1, view=0, proposer=testnet.validator.public_bytes, timestamp_ms=1_700_000_000_500, max_txs=10)
    b.validate(p1.block)
    calls = []
    real_verify = b.suite.verify
    monkeypatch.setattr(b.suite, "verify", lambda *args: calls.append(1) or real_verify(*args))
    with pytest.raises(DuplicateTransaction):
        b.submit(tx.encode())
    assert calls == []
    b.commit(p1.block, _certify(b, testnet.validator, p1.block))
    assert len(b.pool) == 0
    a.store.close()
    b.store.close()


def test_child_of_a_pending_block_obeys_the_limit_its_parent_sets(testnet, tmp_path):
    """The primary asks for the committed block_tx_limit; a pending parent that lowers it wins,
    or the other validators would refuse the child."""
    a = Chain(testnet.genesis, ChainStore(tmp_path / "a"))
    b = Chain(testnet.genesis, ChainStore(tmp_path / "b"))
    proposer = testnet.validator.public_bytes
    a.submit(testnet.tx(testnet.admin, **set_param("block_tx_limit", 2)).encode())
    p1 = a.propose(height=1, view=0, proposer=proposer, timestamp_ms=1_700_000_000_500, max_txs=1)
    for _ in range(4):
        a.submit(testnet.tx(testnet.admin, **set_param("min_seal_ms", 7)).encode())
    p2 = a.propose(height=2, view=0, proposer=proposer, timestamp_ms=1_700_000_000_600,
                   max_txs=a.params().block_tx_limit, parent_hash=p1.block_hash)
    assert len(p2.block.txs) == 2
    b.validate(p1.block)
    assert b.validate(p2.block) == p2.block_hash
    a.store.close()
    b.store.close()


def test_a_proposal_stops_at_its_execution_budget_and_leaves_the_rest_pooled(testnet, tmp_path, monkeypatch):
    """A proposer never builds a block it cannot execute well within the round timeout: what the
    budget leaves out stays in the pool for the next block (and the block is still valid)."""
    import node.chain as chain_module

    chain = Chain(testnet.genesis, ChainStore(tmp_path / "d"))
    assert chain_module.proposal_budget_seconds(chain.params()) == chain.params().consensus_timeout_ms / 5_000
    hashes = [chain.submit(testnet.tx(testnet.admin).encode()) for _ in range(5)]
    monkeypatch.setattr(chain_module, "proposal_budget_seconds", lambda params: 0.0)
    first = seal(chain, testnet.validator)
    assert len(first.txs) == 1 and len(chain.pool) == 4  # at least one, however small the budget
    monkeypatch.setattr(chain_module, "proposal_budget_seconds", lambda params: 60.0)
    second = seal(chain, testnet.validator)
    assert len(second.txs) == 4 and len(chain.pool) == 0
    assert all(chain.store.get_tx_location(h) is not None for h in hashes)


def test_blocks_abandoned_at_a_stuck_height_are_released_beyond_the_limit(testnet, tmp_path):
    """Each view change at a stuck height leaves an executed block behind; only a bounded number
    stay in memory, the newest and those others build on, and a released one still commits."""
    import node.chain as chain_module

    chain = Chain(testnet.genesis, ChainStore(tmp_path / "d"))
    limit = chain_module.pending_block_limit(chain.params())
    chain.submit(testnet.tx(testnet.admin).encode())
    head = chain.head()
    proposals = [chain.propose(height=1, view=v, proposer=testnet.validator.public_bytes, timestamp_ms=head.timestamp_ms + 1,
                               max_txs=10) for v in range(limit + 5)]
    child = chain.propose(height=2, view=limit + 4, proposer=testnet.validator.public_bytes, timestamp_ms=head.timestamp_ms + 2,
                          max_txs=10, parent_hash=proposals[-1].block_hash)
    assert chain.pending_count == limit
    assert child.block_hash in chain._pending and proposals[-1].block_hash in chain._pending
    first = proposals[0]
    assert first.block_hash not in chain._pending  # released, oldest first
    vote = Vote(testnet.validator.public_bytes, chain.suite.sign(testnet.validator.private_bytes,
                                                                commit_vote_bytes(chain.chain_id, 1, 0, first.block_hash)))
    chain.commit(first.block, CommitCertificate(chain.chain_id, 1, 0, first.block_hash, (vote,)))  # executed again
    assert chain.height == 1 and chain.head().block_hash == first.block_hash
