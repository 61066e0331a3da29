"""The view-change rules on their own: what a prepared certificate proves, what a new view carries."""

from __future__ import annotations

from consensus.pbft.messages import PreparedCert, ViewChange, prepare_vote_bytes
from consensus.pbft.viewchange import carried_forward, prepared_block_hash, view_change_is_valid
from node.crypto import get_suite
from node.wire.types import Block, BlockHeader, Vote

SUITE = get_suite("std")
KEYS = [SUITE.generate_keypair() for _ in range(4)]
VALIDATORS = [k.public_bytes for k in KEYS]
CHAIN = "vc-test"
GENESIS = b"\x00" * 32


def block(height: int, parent: bytes, stamp: int = 0) -> tuple[bytes, bytes]:
    header = BlockHeader(chain_id=CHAIN, height=height, parent_hash=parent, timestamp_ms=1_000 + stamp, proposer=VALIDATORS[0],
                         view=0, tx_count=0, tx_root=bytes(32), receipt_root=bytes(32), state_root=bytes(32))
    return Block(header=header, txs=()).encode(), SUITE.hash(header.encode())


def cert(encoded: bytes, height: int, view: int, signers=KEYS[:3]) -> PreparedCert:
    block_hash = SUITE.hash(Block.decode(encoded).header.encode())
    message = prepare_vote_bytes(CHAIN, height, view, block_hash)
    return PreparedCert(view=view, block=encoded, votes=tuple(Vote(k.public_bytes, SUITE.sign(k.private_bytes, message)) for k in signers))


def vc(height: int, *certs: PreparedCert, sender: int = 0) -> ViewChange:
    return ViewChange(height, 5, tuple(certs), VALIDATORS[sender])


def test_prepared_certificate_needs_a_quorum_of_distinct_validators_at_its_height():
    b1, h1 = block(1, GENESIS)
    assert prepared_block_hash(SUITE, CHAIN, VALIDATORS, 3, cert(b1, 1, 0), 1) == h1
    assert prepared_block_hash(SUITE, CHAIN, VALIDATORS, 3, cert(b1, 1, 0), 2) is None  # wrong height
    assert prepared_block_hash(SUITE, CHAIN, VALIDATORS, 3, cert(b1, 1, 0, KEYS[:2]), 1) is None
    doubled = cert(b1, 1, 0, [KEYS[0], KEYS[0], KEYS[1]])
    assert prepared_block_hash(SUITE, CHAIN, VALIDATORS, 3, doubled, 1) is None
    stranger = SUITE.generate_keypair()
    assert prepared_block_hash(SUITE, CHAIN, VALIDATORS, 3, cert(b1, 1, 0, [KEYS[0], KEYS[1], stranger]), 1) is None
    relabelled = PreparedCert(view=1, block=b1, votes=cert(b1, 1, 0).votes)  # votes were for view 0
    assert prepared_block_hash(SUITE, CHAIN, VALIDATORS, 3, relabelled, 1) is None
    b2, _ = block(2, h1)
    assert view_change_is_valid(SUITE, CHAIN, VALIDATORS, 3, vc(1, cert(b1, 1, 0), cert(b2, 2, 0)))
    assert not view_change_is_valid(SUITE, CHAIN, VALIDATORS, 3, vc(1, cert(b2, 2, 0)))  # run must start at vc.height


def test_carried_forward_takes_the_highest_view_per_height_while_the_chain_holds():
    x1, hx1 = block(1, GENESIS)
    y1, hy1 = block(1, GENESIS, stamp=1)
    x2, hx2 = block(2, hx1)
    y2, hy2 = block(2, hy1)
    x3, _ = block(3, hx2)
    # One validator prepared x1, x2, x3 in view 2; another prepared y1 in view 3 (a later view).
    chosen = carried_forward(SUITE, 1, GENESIS, [vc(1, cert(x1, 1, 2), cert(x2, 2, 2), cert(x3, 3, 2)), vc(1, cert(y1, 1, 3), sender=1)])
    assert [(h, enc) for h, enc, _ in chosen] == [(1, y1)]  # x2 does not extend y1: the run stops
    # With y2 prepared too, the chain continues on y.
    chosen = carried_forward(SUITE, 1, GENESIS, [vc(1, cert(x1, 1, 2), cert(x2, 2, 2)), vc(1, cert(y1, 1, 3), cert(y2, 2, 3), sender=1)])
    assert [(h, enc, hh) for h, enc, hh in chosen] == [(1, y1, hy1), (2, y2, hy2)]
    # Everyone agrees: the whole run is carried, heights counted from the base.
    chosen = carried_forward(SUITE, 1, GENESIS, [vc(1, cert(x1, 1, 2), cert(x2, 2, 2), cert(x3, 3, 2)), vc(1, cert(x1, 1, 2), sender=1)])
    assert [h for h, _, _ in chosen] == [1, 2, 3]
    # Nothing prepared, or a first block that does not extend the base: nothing carried.
    assert carried_forward(SUITE, 1, GENESIS, [vc(1), vc(1, sender=1)]) == []
    assert carried_forward(SUITE, 1, b"\x09" * 32, [vc(1, cert(x1, 1, 2))]) == []
