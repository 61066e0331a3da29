"""The chain's read side: lookups, receipt proofs, and a damaged store read as "not there"."""

from __future__ import annotations

import pytest

from node.chainview import ChainReader
from node.merkle import verify_proof
from node.proofs import MalformedProof, ReceiptProof
from node.rpc.jsonfmt import receipt_json
from node.sdk.verify import verify_receipt_proof
from tests.conftest import set_param
from tests.unit.test_chain import seal


class DamagedStore:
    """A real store with some entries gone, as a damaged or half-restored database reads."""

    def __init__(self, store, *, no_block=(), no_hash=(), no_receipts=(), no_cert=()) -> None:
        self._store = store
        self.no_block, self.no_hash, self.no_receipts, self.no_cert = set(no_block), set(no_hash), set(no_receipts), set(no_cert)

    def __getattr__(self, name):
        return getattr(self._store, name)

    def get_block(self, height):
        return None if height in self.no_block else self._store.get_block(height)

    def get_block_hash(self, height):
        return None if height in self.no_hash else self._store.get_block_hash(height)

    def get_certificate(self, height):
        return None if height in self.no_cert else self._store.get_certificate(height)

    def get_receipt_at(self, height, index):
        return None if height in self.no_receipts else self._store.get_receipt_at(height, index)

    def receipts_at(self, height):
        return [] if height in self.no_receipts else self._store.receipts_at(height)


@pytest.fixture
def committed(chain, testnet):
    """Three transactions committed in block 1 (an odd count: the last leaf is promoted)."""
    txs = [testnet.tx(testnet.admin, **set_param("block_interval_ms", 500 + i)) for i in range(3)]
    hashes = [chain.submit(tx.encode()) for tx in txs]
    seal(chain, testnet.validator)
    return hashes


def reader_for(chain, store=None) -> ChainReader:
    return ChainReader(store or chain.store, chain.suite, chain.genesis, chain.pool)


def test_every_receipt_proof_checks_against_the_header(chain, testnet, committed):
    reader = reader_for(chain)
    header = reader.block(1).block.header
    for index, tx_hash in enumerate(committed):
        found = reader.receipt(tx_hash)
        assert (found.height, found.index) == (1, index)
        proof = reader.receipt_proof(found.height, found.index)
        assert proof.tx_index == index and proof.block_hash == chain.store.get_block_hash(1)
        assert testnet.suite.hash(proof.header_raw) == proof.block_hash
        assert verify_proof(testnet.suite.hash, tx_hash, proof.tx_proof, header.tx_root)
        assert verify_proof(testnet.suite.hash, found.receipt.encode(), proof.receipt_proof, header.receipt_root)
        # the client's verifier accepts the JSON form the node serves
        served = {**receipt_json(found.receipt, found.block_hash), "proof": proof.to_json()}
        proven = verify_receipt_proof(testnet.suite, served, chain_id=chain.chain_id, validators=chain.validators(), tx_hash=tx_hash)
        assert proven == found.receipt


def test_proof_json_shape_round_trips(chain, committed):
    proof = reader_for(chain).receipt_proof(1, 2)
    raw = proof.to_json()
    assert list(raw) == ["block_hash", "header_raw", "tx_index", "tx_proof", "receipt_proof", "certificate_raw"]
    assert raw["tx_index"] == 2 and raw["certificate_raw"].startswith("0x")
    assert all(set(step) == {"sibling", "position"} and step["position"] in ("left", "right") for step in raw["tx_proof"])
    assert ReceiptProof.from_json(raw) == proof


@pytest.mark.parametrize(
    "change,field",
    [
        ({"tx_index": -1}, "tx_index"),
        ({"tx_index": True}, "tx_index"),
        ({"block_hash": "abc"}, "block_hash"),
        ({"header_raw": "0xzz"}, "header_raw"),
        ({"tx_proof": [{"sibling": "0x11", "position": "up"}]}, "tx_proof"),
        ({"receipt_proof": "nope"}, "receipt_proof"),
        ({"certificate_raw": 5}, "certificate_raw"),
    ],
)
def test_malformed_proof_json_names_the_field(chain, committed, change, field):
    raw = {**reader_for(chain).receipt_proof(1, 0).to_json(), **change}
    with pytest.raises(MalformedProof) as err:
        ReceiptProof.from_json(raw)
    assert err.value.field == field
    with pytest.raises(MalformedProof):
        ReceiptProof.from_json(None)


def test_genesis_proof_has_no_certificate_and_out_of_range_has_no_proof(chain, committed):
    reader = reader_for(chain)
    assert reader.receipt_proof(0, 0) is None  # genesis has no transactions
    assert reader.receipt_proof(1, 3) is None
    assert reader.receipt_proof(1, -1) is None
    assert reader.receipt_proof(99, 0) is None
    no_cert = reader_for(chain, DamagedStore(chain.store, no_cert={1}))
    assert no_cert.receipt_proof(1, 0).certificate_raw is None
    assert no_cert.receipt_proof(1, 0).to_json()["certificate_raw"] is None


@pytest.mark.parametrize("damage", [{"no_block": {1}}, {"no_hash": {1}}, {"no_receipts": {1}}])
def test_missing_store_entries_mean_no_proof(chain, committed, damage):
    reader = reader_for(chain, DamagedStore(chain.store, **damage))
    assert reader.receipt_proof(1, 0) is None


def test_missing_receipt_or_hash_means_no_receipt(chain, committed):
    assert reader_for(chain, DamagedStore(chain.store, no_receipts={1})).receipt(committed[0]) is None
    assert reader_for(chain, DamagedStore(chain.store, no_hash={1})).receipt(committed[0]) is None
    assert reader_for(chain).receipt(bytes(32)) is None


def test_transactions_pending_committed_and_missing(chain, testnet, committed):
    reader = reader_for(chain)
    found = reader.transaction(committed[1])
    assert found.location.height == 1 and found.location.index == 1 and found.location.block_hash == chain.store.get_block_hash(1)
    assert chain.suite.hash(found.tx.signing_bytes()) == committed[1]
    pending = testnet.tx()
    pending_hash = chain.submit(pending.encode())
    got = reader.transaction(pending_hash)
    assert got.tx == pending and got.location is None
    assert reader.transaction(bytes(32)) is None
    assert reader_for(chain, DamagedStore(chain.store, no_block={1})).transaction(committed[1]) is None
    assert ChainReader(chain.store, chain.suite, chain.genesis).transaction(pending_hash) is None  # no pool: committed only


def test_blocks_head_and_events(chain, committed):
    reader = reader_for(chain)
    assert reader.height == 1 and reader.head().block_hash == chain.head().block_hash
    assert reader.genesis_hash() == chain.genesis_hash and reader.chain_id == chain.chain_id
    stored = reader.block(1)
    assert stored.certificate is not None and len(stored.block.txs) == 3
    assert reader.height_of(stored.block_hash) == 1 and reader.height_of(bytes(32)) is None
    assert reader.block(2) is None
    events = [e for e in reader.events_at(1) if e.name == "ParamChanged"]
    assert [(e.tx_index, e.event_index, e.name) for e in events] == [(i, 3, "ParamChanged") for i in range(3)]
    assert events[0].tx_hash == committed[0]
