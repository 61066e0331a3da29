"""Writing the seed corpus (``python -m tests.fuzz.seeds``): a few valid inputs per target, so
the fuzzer starts from real encodings and requests instead of random bytes. The corpus
(tests/fuzz/corpus/<target>/) also holds what the fuzzer found that adds coverage
(``scripts/fuzz.sh merge``) and every input that once failed (``crash-*``); it is committed and
replayed by tests/unit/test_fuzz_targets.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from consensus.messages import encode_message, sign_message
from consensus.pbft.messages import Commit, NewView, Prepare, PreparedCert, PrePrepare, ViewChange
from consensus.raft.messages import Ack, Append, PreVote, RequestVote
from node.p2p.snapshot import offer
from node.params import param_key
from node.statetree.snapshot import wire_form
from node.wire import codec
from node.wire.types import Vote
from tests.fuzz import targets
from tests.fuzz.contracts import contract_chain
from tests.fuzz.fixture import fuzz_chain
from tests.fuzz.peer import NODE_HEIGHT, PEERS, PeerNode, peer_node
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


def _frames(setup: int, *frames: tuple[int, dict[str, Any]]) -> bytes:
    out = bytes([setup])
    for who, message in frames:
        raw = codec.encode(message)
        out += bytes([who]) + len(raw).to_bytes(2, "big") + raw
    return out


def _snapshot_answers(node: PeerNode) -> list[tuple[int, dict[str, Any]]]:
    """The source's answers to the node's ``snap_get`` requests when it fetches block 4's state,
    in order, until the node has asked for everything (what an honest peer 0 would send)."""
    node.fresh_parts()
    targets._arrange(node, 2 | 16)
    snap = node.service.snapshot
    assert snap is not None and snap.target is not None
    answers: list[tuple[int, dict[str, Any]]] = []
    asked = [r.hashes for r in snap._inflight.get(PEERS[0], ())]  # _arrange cleared the sends: read what is in flight
    while asked and len(answers) < targets.MAX_FRAMES:
        hashes = asked.pop(0)
        nodes = [wire_form(n) for n in (node.source.store.tree_node(h) for h in hashes) if n is not None]
        answer = {"t": "snap_nodes", "height": snap.target.height, "root": snap.target.root, "nodes": nodes}
        answers.append((0, answer))
        assert node.service.snapshot is not None
        node.service.snapshot.on_nodes(PEERS[0], answer)
        asked += [m["hashes"] for p, m, _ in node.recorder.sent if p == PEERS[0] and m["t"] == "snap_get"]
        node.recorder.sent.clear()
    node.rebuild()
    return answers


def p2p_seeds() -> list[bytes]:
    node = peer_node()
    (b1, c1), (b2, c2), (b3, c3), (b4, c4) = node.blocks
    head = node.chain.store.get_header(NODE_HEIGHT)
    assert head is not None
    snap_get = {"t": "snap_get", "height": NODE_HEIGHT, "root": head.state_root, "hashes": [head.state_root], "max_bytes": 1 << 20}
    return [
        _frames(0, (0, {"t": "status", "height": NODE_HEIGHT + 1})),
        _frames(0, (1, {"t": "getblocks", "from": 1, "count": 4}), (0, {"t": "getblocks", "from": 2, "count": 1, "id": 1})),
        _frames(16, (0, {"t": "blocks", "items": [[b4, c4]]})),
        _frames(16, (0, {"t": "blocks", "items": [[b3, c3], [b4, c4]]}), (1, {"t": "blocks", "items": []})),
        _frames(8, (0, {"t": "blocks", "id": 1, "items": [[b1, c1], [b2, c2], [b3, c3]]})),
        _frames(8, (0, {"t": "blocks", "id": 1, "items": [[b3, c3]]}), (0, {"t": "blocks", "id": 1, "items": [[b2, c2]]})),
        _frames(0, (0, {"t": "snap_head"}), (1, snap_get)),
        _frames(1 | 16, (0, offer(node.source)), (1, {"t": "snap_offer", "height": 0})),
        _frames(2 | 16, *_snapshot_answers(node)),
        _frames(0, (0, {"t": "txs", "txs": list(node.txs)}), (1, {"t": "txs", "txs": node.txs[:1]})),
        _frames(4, (0, {"t": "cons", "m": b1}), (2, {"t": "status", "height": 9}), (1, {"t": "what"})),
    ]


def contract_seeds() -> list[bytes]:
    """Calls of real methods of every business and system contract with plausible arguments
    (one dropped in half of them), from each kind of sender, and a deployment with the catalog's init arguments."""
    fx = contract_chain()
    out = []
    for i, callee in enumerate(fx.callees):
        for j in range(0, len(callee.methods), 3):
            sender = (i + j) % len(fx.senders)
            key = (i * 7 + j) % len(targets.KEYS)
            edit = [key, 1] if j % 2 else [key, 0, 4, key]  # drop one argument, or set it to its plausible value
            out.append(bytes([i, j, sender, 1, 0]) + bytes(7) + bytes([j + 1, 2, 0, *edit]))
    did = targets.KEYS.index("did")
    deploy = 16 * 15 + 15  # pick % 16 == 15: a deployment
    out.append(bytes([deploy, 0, 0, 1, 5]) + bytes(7) + b"\x01" + bytes([1]) + bytes([2, 0, did, 0, 4, 0]))
    return out


SEEDS = {"wire": wire_seeds, "consensus": consensus_seeds, "rpc": rpc_seeds, "state_proof": state_proof_seeds,
         "p2p": p2p_seeds, "contract": contract_seeds}


def write(only: tuple[str, ...] = ()) -> None:
    for target, make in SEEDS.items():
        if only and target not in only:
            continue
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)  # found inputs and crash-* files already there stay
        for data in make():
            (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


if __name__ == "__main__":
    import sys

    write(tuple(sys.argv[1:]))
