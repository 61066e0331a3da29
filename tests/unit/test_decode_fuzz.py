"""Property-based fuzzing of everything a peer or client can hand the node as bytes: random and
mutated inputs to the transaction, block, certificate and receipt decoders, both engines'
consensus messages and the peer-to-peer frame handler either decode or fail with the node's own
``ConsortiaError``, never with anything else (which would escape as a traceback)."""

from __future__ import annotations

import asyncio

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consensus.registry import ENGINES
from node.errors import ConsortiaError
from node.wire.types import Block, BlockHeader, CommitCertificate, Receipt, Transaction, Vote

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Msgpack-shaped values: what a hostile peer would build to get past the first decode.
values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.binary(max_size=40)
    | st.text(max_size=20) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=30,
)


def _sample_tx() -> Transaction:
    return Transaction(chain_id="c", nonce=bytes(16), expiry_height=9, sender_pubkey=b"k" * 32, to=bytes(20), method="m",
                       args=b"\x80", fuel_limit=1, signature=b"s" * 64)


def _sample_block() -> Block:
    header = BlockHeader(chain_id="c", height=1, parent_hash=bytes(32), timestamp_ms=1, proposer=b"p" * 32, view=0,
                         tx_count=1, tx_root=bytes(32), receipt_root=bytes(32), state_root=bytes(32))
    return Block(header=header, txs=(_sample_tx(),))


SAMPLES = {
    "transaction": (_sample_tx().encode(), Transaction.decode),
    "block": (_sample_block().encode(), Block.decode),
    "certificate": (CommitCertificate("c", 1, 0, bytes(32), (Vote(b"v" * 32, b"s" * 64),)).encode(), CommitCertificate.decode),
    "receipt": (Receipt(tx_hash=bytes(32), height=1, index=0, status=0, error="", fuel_used=5, return_value=b"",
                        events=()).encode(), Receipt.decode),
}


def _only_consortia_errors(decode, data: bytes) -> None:
    try:
        decode(data)
    except ConsortiaError:
        pass


@pytest.mark.parametrize("kind", sorted(SAMPLES))
@FUZZ
@given(data=st.data())
def test_wire_decoders_refuse_mutations_cleanly(kind, data):
    sample, decode = SAMPLES[kind]
    mutated = bytearray(sample)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(mutated) - 1))
        mutated[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mutated)))
    _only_consortia_errors(decode, bytes(mutated[:cut]) if data.draw(st.booleans()) else bytes(mutated))


@pytest.mark.parametrize("kind", sorted(SAMPLES))
@FUZZ
@given(raw=st.binary(max_size=300))
def test_wire_decoders_refuse_random_bytes_cleanly(kind, raw):
    _only_consortia_errors(SAMPLES[kind][1], raw)


@pytest.mark.parametrize("engine", sorted(ENGINES))
@FUZZ
@given(value=values, tag=st.sampled_from(["preprepare", "prepare", "commit", "viewchange", "newview", "r_vote_req",
                                          "r_vote", "r_append", "r_ack", "r_prevote_req", "r_prevote", "other"]))
def test_consensus_messages_refuse_hostile_maps_cleanly(engine, value, tag):
    decode = ENGINES[engine].decode
    _only_consortia_errors(decode, msgpack.packb(value))  # not necessarily canonical: the decoder must cope
    if isinstance(value, dict):
        _only_consortia_errors(decode, msgpack.packb({**value, "t": tag}))


@pytest.mark.parametrize("engine", sorted(ENGINES))
@FUZZ
@given(raw=st.binary(max_size=300))
def test_consensus_messages_refuse_random_bytes_cleanly(engine, raw):
    _only_consortia_errors(ENGINES[engine].decode, raw)


@FUZZ
@given(message=st.dictionaries(st.sampled_from(["t", "m", "txs", "height", "from", "count", "items", "id", "root", "hashes",
                                                "max_bytes", "nodes", "block", "cert"]), values, max_size=4),
       kind=st.sampled_from(["cons", "txs", "status", "getblocks", "blocks", "snap_head", "snap_offer", "snap_get", "snap_nodes",
                             "unknown"]))
def test_peer_messages_are_refused_cleanly(peer_service, message, kind):
    """The handler behind every authenticated peer frame (after the frame itself decoded)."""
    service, chain = peer_service
    height = chain.height

    async def deliver() -> list[BaseException]:
        try:
            service.on_message(b"p" * 32, {**message, "t": kind})
        except ConsortiaError:
            pass
        spawned = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]  # e.g. block sync applying a batch
        results = await asyncio.gather(*spawned, return_exceptions=True)
        return [r for r in results if isinstance(r, BaseException) and not isinstance(r, ConsortiaError)]

    assert asyncio.run(deliver()) == []
    assert chain.height == height


@pytest.fixture(scope="module")
def peer_service(tmp_path_factory):
    from node.chain import Chain
    from node.config import SyncConfig
    from node.devnet import free_port
    from node.p2p.certs import make_ca, write_node_tls
    from node.p2p.service import NetworkService
    from node.store.chainstore import ChainStore
    from tests.conftest import make_testnet

    home = tmp_path_factory.mktemp("peer")
    net = make_testnet("std")
    store = ChainStore(home / "data")
    chain = Chain(net.genesis, store)
    write_node_tls(home, make_ca("test"), "v", net.validator.public_bytes)
    service = NetworkService(chain, net.validator, home, "127.0.0.1", free_port(), sync=SyncConfig(mode="snapshot"))
    yield service, chain
    store.close()
