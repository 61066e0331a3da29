"""Writing the seed corpus (``python -m tests.fuzz.seeds``): a few valid inputs per target, so
the fuzzer starts from real encodings and requests instead of random bytes. The corpus
(tests/fuzz/corpus/<target>/) also holds what the fuzzer found that adds coverage
(``scripts/fuzz.sh merge``) and every input that once failed (``crash-*``); it is committed and
replayed by tests/unit/test_fuzz_targets.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from consensus.messages import encode_message, sign_message
from consensus.pbft.messages import Commit, NewView, Prepare, PreparedCert, PrePrepare, ViewChange
from consensus.raft.messages import Ack, Append, PreVote, RequestVote
from node.params import param_key
from node.wire.types import Vote
from tests.fuzz.fixture import fuzz_chain
from tests.fuzz.targets import DECODERS

CORPUS = Path(__file__).parent / "corpus"


def wire_seeds() -> list[bytes]:
    fc = fuzz_chain()
    store = fc.chain.store
    block = store.get_block(1)
    cert = store.get_certificate(1)
    receipt = store.receipts_at(1)[0]
    assert block is not None and cert is not None
    by_name = {name: i for i, (name, _, _) in enumerate(DECODERS)}
    return [
        bytes([by_name["transaction"]]) + block.txs[0].encode(),
        bytes([by_name["block"]]) + block.encode(),
        bytes([by_name["header"]]) + block.header.encode(),
        bytes([by_name["certificate"]]) + cert.encode(),
        bytes([by_name["receipt"]]) + receipt.encode(),
        bytes([by_name["msgpack"]]) + block.header.encode(),
    ]


def consensus_seeds() -> list[bytes]:
    fc = fuzz_chain()
    chain, key = fc.chain, fc.net.validator
    block = chain.store.get_block(1)
    cert = chain.store.get_certificate(1)
    assert block is not None and cert is not None
    h = hashlib.sha256(b"seed").digest()
    me = key.public_bytes

    def signed(msg):
        return encode_message(sign_message(chain.suite, key.private_bytes, chain.chain_id, msg))

    prepared = PreparedCert(0, block.encode(), (Vote(me, b"s" * 64),))
    vc = sign_message(chain.suite, key.private_bytes, chain.chain_id, ViewChange(2, 1, (prepared,), me))
    pbft = [
        signed(PrePrepare(2, 0, block.encode(), me)),
        signed(Prepare(2, 0, h, me)),
        signed(Commit(2, 0, h, me)),
        encode_message(vc),
        signed(NewView(2, 1, (vc,), me)),
    ]
    raft = [
        signed(RequestVote(3, 1, 1, me)),
        signed(PreVote(3, me, me)),
        signed(Append(3, 2, block.encode(), cert.encode(), me)),
        signed(Ack(3, 2, h, me)),
    ]
    return [b"\x01" + m for m in pbft] + [b"\x00" + m for m in raft]


def rpc_seeds() -> list[bytes]:
    fc = fuzz_chain()
    tx = fc.chain.store.get_block(1)
    assert tx is not None
    bodies = [
        {"jsonrpc": "2.0", "id": 1, "method": "chain_getBlockByNumber", "params": [1]},
        {"jsonrpc": "2.0", "id": 2, "method": "state_getProof", "params": {"key": "0x" + param_key("block_interval_ms").hex()}},
        {"jsonrpc": "2.0", "id": 3, "method": "tx_send", "params": ["0x" + tx.txs[0].encode().hex()]},
        {"jsonrpc": "2.0", "id": 4, "method": "node_info"},
        [{"jsonrpc": "2.0", "id": 5, "method": "chain_blockNumber"}, {"jsonrpc": "2.0", "method": "tx_get", "params": ["0x00"]}],
    ]
    raw = [b"\x00" + json.dumps(b).encode() for b in bodies]
    structured = [b"\x01" + bytes([i, 2, i & 1, 2, 0xFF, 4, 8]) + bytes(range(i, i + 12)) for i in range(0, 40, 3)]
    return raw + structured


def state_proof_seeds() -> list[bytes]:
    fc = fuzz_chain()
    out = []
    for i in range(len(fc.state_proofs)):
        out.append(b"\x01" + bytes([i, 0, 3, 1]) + bytes(range(1, 20)))
    for i in range(len(fc.receipt_proofs)):
        out.append(b"\x00" + bytes([i, 1, 4, 1]) + bytes(range(7, 30)))
    return out


SEEDS = {"wire": wire_seeds, "consensus": consensus_seeds, "rpc": rpc_seeds, "state_proof": state_proof_seeds}


def write() -> None:
    for target, make in SEEDS.items():
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)  # found inputs and crash-* files already there stay
        for data in make():
            (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


if __name__ == "__main__":
    write()
