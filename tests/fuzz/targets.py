"""The fuzz targets. Each takes any bytes and checks only what the code documents:

- ``wire``: the canonical decoders (transaction, block, header, certificate, receipt, raw msgpack)
  return a value whose encoding is exactly the input, or raise ``DecodeError``; a decoded
  transaction passes or fails the stateless admission check with a ``ConsortiaError``.
- ``consensus``: both engines' message decoders return a message that re-encodes to the input or
  raise ``DecodeError``; signature verification of a decoded message answers True or False;
  blocks inside PBFT messages decode or raise ``DecodeError``.
- ``rpc``: a JSON-RPC body (raw bytes, or a request built for a real method) gets a response
  object, a batch of them or nothing; every error carries a documented code, never -32603.
- ``state_proof``: an honest state or receipt proof, edited by the input, is accepted with the
  true value or refused with ``ConsensusError``; nothing else, and never a false value.

Anything else (another exception, a false acceptance) is a bug: the assertion or exception
escapes to the fuzzer, which saves the input.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import Callable
from typing import Any

import msgpack

from consensus.messages import encode_message, verify_message
from consensus.pbft.messages import NewView, PrePrepare, ViewChange
from consensus.pbft.messages import decode_message as pbft_decode
from consensus.raft.messages import decode_message as raft_decode
from node.errors import ConsensusError, ConsortiaError, DecodeError, InternalError
from node.execution.context import FUEL_PER_TX_BYTE, FUEL_TX_BASE
from node.rpc.handlers import all_methods
from node.sdk.verify import verify_receipt_proof, verify_state_proof
from node.txcheck import check_transaction, decode_and_check
from node.wire import codec
from node.wire.types import STATUS_OK, Block, BlockHeader, CommitCertificate, Receipt, Transaction
from tests.fuzz.contracts import ContractFixture, contract_chain
from tests.fuzz.fixture import fuzz_chain
from tests.fuzz.peer import NODE_HEIGHT, PEERS, UNLINKED, PeerNode, peer_node
from tests.fuzz.reader import EDGE_INTS, ByteReader
from tests.unit.test_contract_fuzz import VALID

# --- wire ------------------------------------------------------------------------------------

DECODERS: tuple[tuple[str, Callable[[bytes], Any], Callable[[Any], bytes]], ...] = (
    ("transaction", Transaction.decode, lambda v: v.encode()),
    ("block", Block.decode, lambda v: v.encode()),
    ("header", BlockHeader.decode, lambda v: v.encode()),
    ("certificate", CommitCertificate.decode, lambda v: v.encode()),
    ("receipt", Receipt.decode, lambda v: v.encode()),
    ("msgpack", codec.decode, codec.encode),
)


def wire(data: bytes) -> None:
    if not data:
        return
    name, decode, encode = DECODERS[data[0] % len(DECODERS)]
    raw = data[1:]
    try:
        value = decode(raw)
    except DecodeError:
        return
    assert encode(value) == raw, f"{name}: a decoded value re-encodes differently (two encodings of one value)"
    if isinstance(value, Transaction):
        chain = fuzz_chain().chain
        try:
            check_transaction(chain.suite, chain.chain_id, value, size=len(raw))
        except ConsortiaError:
            pass


# --- consensus messages -------------------------------------------------------------------------


def consensus(data: bytes) -> None:
    if not data:
        return
    decode = pbft_decode if data[0] & 1 else raft_decode
    raw = data[1:]
    try:
        msg = decode(raw)
    except DecodeError:
        return
    assert encode_message(msg) == raw, f"{type(msg).__name__} re-encodes differently"
    chain = fuzz_chain().chain
    ok = verify_message(chain.suite, chain.chain_id, msg)
    assert ok is True or ok is False
    blocks: list[bytes] = []
    if isinstance(msg, PrePrepare):
        blocks.append(msg.block)
    vcs = list(msg.view_changes) if isinstance(msg, NewView) else [msg] if isinstance(msg, ViewChange) else []
    for vc in vcs:
        blocks.extend(c.block for c in vc.prepared)
    for block in blocks:
        try:
            Block.decode(block)
        except DecodeError:
            pass


# --- JSON-RPC -----------------------------------------------------------------------------------

def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


def documented_codes() -> frozenset[int]:
    """Every code of the node's error table except internal_error (-32603)."""
    return frozenset(c.code for c in _subclasses(ConsortiaError) if c.code != InternalError.code)


def rpc_request(r: ByteReader) -> bytes:
    """A request for one of the node's real methods with parameters built from the input."""
    methods = fuzz_chain().dispatcher.method_names
    method = r.pick(methods)
    count = r.byte() % 5
    by_name = bool(r.byte() & 1)
    values = [r.json_value() for _ in range(count)]
    entry = all_methods().get(method)
    names = list(entry.names) if entry is not None else []
    params: Any = values
    if by_name:
        params = {(names[i] if i < len(names) else r.take(6).decode("utf-8", "replace")): v for i, v in enumerate(values)}
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": r.uint(1), "method": method, "params": params}
    return json.dumps(body).encode()


def _check_reply(reply: Any, codes: frozenset[int]) -> None:
    assert isinstance(reply, dict), reply
    assert reply.get("jsonrpc") == "2.0", reply
    assert ("result" in reply) != ("error" in reply), reply
    if "error" in reply:
        err = reply["error"]
        assert err["code"] in codes, f"undocumented error code: {reply}"
        assert isinstance(err["message"], str) and err["message"], reply
    json.dumps(reply)  # the transport serialises it: it must be JSON


def rpc(data: bytes) -> None:
    if not data:
        return
    r = ByteReader(data[1:])
    body = rpc_request(r) if data[0] & 1 else r.rest()
    fc = fuzz_chain()
    reply = fc.rpc(body)
    codes = documented_codes()
    if reply is None:
        return
    for one in reply if isinstance(reply, list) else [reply]:
        _check_reply(one, codes)
    internal = fc.dispatcher.env.metrics.value("consortia_rpc_errors_total", {"code": str(InternalError.code)})
    assert not internal, "the dispatcher answered internal_error"


# --- state and receipt proofs ---------------------------------------------------------------------


def _edit(r: ByteReader, obj: dict[str, Any]) -> None:
    """One edit of a proof object: replace, overwrite bytes in, cut, extend or delete a member."""
    if not obj:
        return
    name = r.pick(sorted(obj))
    value = obj[name]
    op = r.byte() % 6
    if op == 0:
        obj[name] = r.json_value()
    elif op == 5:
        del obj[name]
    elif isinstance(value, dict):
        _edit(r, value)
    elif isinstance(value, list) and value:
        i = r.byte() % len(value)
        if isinstance(value[i], str):
            value[i] = _edit_hex(r, value[i], op)
        else:
            value[i] = r.json_value()
    elif isinstance(value, str):
        obj[name] = _edit_hex(r, value, op)
    else:
        obj[name] = r.json_value()


def _edit_hex(r: ByteReader, value: str, op: int) -> str:
    try:
        raw = bytearray(bytes.fromhex(value[2:])) if value.startswith("0x") else bytearray(value.encode())
    except ValueError:
        return value + r.take(4).hex()
    if op == 1 and raw:
        for _ in range(1 + r.byte() % 3):
            raw[r.uint(2) % len(raw)] = r.byte()
    elif op == 2:
        del raw[r.uint(2) % (len(raw) + 1):]
    elif op == 3:
        raw[r.uint(2) % (len(raw) + 1):0] = r.take(16)
    else:
        raw += r.take(32)
    return "0x" + raw.hex()


def state_proof(data: bytes) -> None:
    if not data:
        return
    fc = fuzz_chain()
    chain = fc.chain
    r = ByteReader(data[1:])
    validators = chain.validators()
    if data[0] & 1:
        case = r.pick(fc.state_proofs)
        response = copy.deepcopy(case.response)
        for _ in range(r.byte() % 4 + 1):
            _edit(r, response)
        try:
            value = verify_state_proof(chain.suite, response, key=case.key, chain_id=chain.chain_id, validators=validators)
        except ConsensusError:
            return
        assert value == case.value, f"a tampered proof was accepted with a false value: {value!r} != {case.value!r}"
    else:
        answer, tx_hash = r.pick(fc.receipt_proofs)
        edited = copy.deepcopy(answer)
        for _ in range(r.byte() % 4 + 1):
            _edit(r, edited)
        try:
            receipt = verify_receipt_proof(chain.suite, edited, chain_id=chain.chain_id, validators=validators, tx_hash=tx_hash)
        except ConsensusError:
            return
        assert receipt.encode() == bytes.fromhex(answer["raw"][2:]), "a tampered receipt proof was accepted with a false receipt"


# --- peer-to-peer messages ------------------------------------------------------------------------

MAX_FRAMES = 8  # frames per input: a request and its answers (fetching the test state takes 5 snap_nodes)
MAX_SENDS_PER_FRAME = 8  # one frame may make the node answer, announce or ask (snapshot: PIPELINE x peers)
_PHASES = ("done", "offers", "fetching", "deciding")


def _arrange(node: PeerNode, setup: int) -> None:
    """Put the node's sync machinery where the input says: snapshot phase, backfill, peer heights.

    Bits 0-1: snapshot sync done (bit 2 set: full-sync mode, no snapshot sync at all), collecting
    offers, fetching the source's block 4 state, or still deciding (block sync is paused unless
    done). Bit 3: a nonce backfill of blocks 1..3 waiting for an answer from the first peer. Bit 4:
    the peers announced heights 4 and 3."""
    s = node.service
    phase = _PHASES[setup & 3]
    if setup & 16:
        s.sync.peer_heights.update({PEERS[0]: NODE_HEIGHT + 1, PEERS[1]: NODE_HEIGHT})
    snap = s.snapshot
    assert snap is not None
    if phase == "done":
        snap.phase = "done"
        if setup & 4:
            s.snapshot = None
    else:
        s.sync.paused = True
        snap.phase = phase
        if phase == "offers":
            snap._offers_until = float("inf")
        elif phase == "fetching":
            s.sync.peer_heights[PEERS[0]] = NODE_HEIGHT + 1
            snap._begin(node.target())
    if setup & 8:
        top = node.chain.store.get_header(NODE_HEIGHT)
        assert top is not None
        s.backfill._set(1, NODE_HEIGHT, node.chain.suite.hash(top.encode()))
        s.backfill._inflight = (PEERS[0], 1, NODE_HEIGHT, s.backfill.clock())
    node.recorder.sent.clear()


def peer_frames(data: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    """An input as (setup byte, [(sending peer, frame bytes)]): each frame is a peer byte
    (linked peer 0, 1 or an unlinked one), a 2-byte big-endian length and the frame."""
    r = ByteReader(data)
    setup = r.byte()
    frames = []
    while r.left and len(frames) < MAX_FRAMES:
        peer = (*PEERS, UNLINKED)[r.byte() % 3]
        frames.append((peer, r.exact(r.uint(2))))
    return setup, frames


def _deliver(node: PeerNode, peer: bytes, raw: bytes) -> None:
    """One frame as the transport hands it over: decoded under the frame limit, typed, keepalives
    answered by the transport itself; then ``on_message`` and whatever tasks it started."""
    try:
        message = codec.decode(raw, max_bytes=node.service.frame_limit())
    except ConsortiaError:
        return  # the transport drops the peer
    if not isinstance(message, dict) or not isinstance(message.get("t"), str) or message["t"] in ("ping", "pong"):
        return

    async def handle() -> None:
        try:
            node.service.on_message(peer, message)
        except ConsortiaError:
            pass  # documented: the transport logs it and reads the next frame
        spawned = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for outcome in await asyncio.gather(*spawned, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome

    node.loop.run_until_complete(handle())


def p2p(data: bytes) -> None:
    setup, frames = peer_frames(data)
    if not frames:
        return
    node = peer_node()
    node.fresh_parts()
    _arrange(node, setup)
    before = node.look()
    limit = node.service.frame_limit()
    for peer, raw in frames:
        _deliver(node, peer, raw)
        sent = node.recorder.sent
        assert len(sent) <= MAX_SENDS_PER_FRAME, f"one frame made the node send {len(sent)} messages"
        for _, message, size in sent:
            assert size <= limit, f"a {message.get('t')!r} answer of {size} bytes is over the frame limit {limit}"
        sent.clear()
    after = node.look()
    if (after.height, after.head_hash, after.state_root) != (before.height, before.head_hash, before.state_root):
        block = Block.decode(node.blocks[NODE_HEIGHT][0])
        assert after.height == NODE_HEIGHT + 1, f"the node moved from {before.height} to {after.height}"
        assert after.head_hash == node.chain.suite.hash(block.header.encode()), "the node committed a block nobody certified"
        assert after.state_root == block.header.state_root, "the node holds a state no certified block names"
        node.rebuild()


# --- contract calls ------------------------------------------------------------------------------

KEYS = tuple(sorted(VALID))
_VARIABLE = re.compile(r"0x[0-9a-f]+|\d+|'[^']*'")  # numbers, addresses and quoted input in error messages


def _no_feedback(outcome: str) -> None:
    pass


# Coverage the instrumentation cannot see: what happened inside a WASM contract. ``run.py`` points
# this at libFuzzer counters, one per distinct outcome (contract, declared method, status and error
# with numbers and quoted input blanked), so an input that reaches a new check inside a contract is kept; in plain
# pytest it does nothing.
outcome_feedback: Callable[[str], None] = _no_feedback
FUEL_LIMITS = (20_000_000, FUEL_TX_BASE - 1, FUEL_TX_BASE + 500, 50_000, 2_000_000, 100_000_000)


def msgpack_value(r: ByteReader, depth: int = 0) -> Any:
    """A msgpack value: JSON's, plus byte strings of contract-relevant sizes and argument-named maps."""
    kind = r.byte() % (8 if depth < 3 else 5)
    if kind == 0:
        return r.json_value(3)
    if kind == 1:
        return r.take(70)
    if kind == 2:
        return bytes([r.byte()]) * r.pick((20, 32, 64, 19, 33))
    if kind == 3:
        return r.pick(EDGE_INTS) if r.byte() & 1 else r.uint(r.byte() % 9)
    if kind == 4:
        return VALID[r.pick(KEYS)]
    if kind == 5:
        return [msgpack_value(r, depth + 1) for _ in range(r.byte() % 4)]
    if kind == 6:
        return {r.pick(KEYS): msgpack_value(r, depth + 1) for _ in range(r.byte() % 5)}
    return {r.take(8).decode("utf-8", "replace"): msgpack_value(r, depth + 1) for _ in range(r.byte() % 3)}


def _pack(value: Any) -> bytes:
    """msgpack of ``value``; an integer msgpack cannot carry (the reader's 10**30) packs as nil."""
    try:
        return msgpack.packb(value)
    except OverflowError:
        return msgpack.packb(None)


def contract_args(r: ByteReader) -> bytes:
    """Raw bytes, or msgpack: plausible arguments with some spoiled, or a map built from scratch."""
    mode = r.byte() % 4
    if mode == 0:
        return r.take(255)
    if mode == 1:
        return _pack(msgpack_value(r))
    args: dict[Any, Any] = dict(VALID) if mode == 2 else {}
    for _ in range(1 + r.byte() % 4):
        key = r.pick(KEYS)
        if mode == 2 and r.byte() & 1:
            args.pop(key, None)
        else:
            args[key] = msgpack_value(r)
    return _pack(args)


def contract_call(fx: ContractFixture, r: ByteReader) -> Transaction:
    """A signed transaction to a business or system contract, or a deployment, built from the input."""
    pick = r.byte()
    method_byte = r.byte()
    key = r.pick(fx.senders)
    fuel = r.pick(FUEL_LIMITS) if r.byte() & 7 else r.uint(4)
    if pick % 16 == 15:  # a deployment of a real contract with fuzzed init arguments
        to, method = b"", "deploy"
        args = _pack({"code": r.pick(fx.codes), "init_args": contract_args(r)})
    else:
        callee = fx.callees[pick % len(fx.callees)]
        to = callee.address
        method = callee.methods[method_byte % len(callee.methods)] if method_byte < 224 else r.take(24).decode("utf-8", "replace")
        args = contract_args(r)
    net, chain = fx.cc.net, fx.cc.chain
    tx = Transaction(chain_id=chain.chain_id, nonce=r.uint(8).to_bytes(16, "big"), expiry_height=chain.height + 10,
                     sender_pubkey=key.public_bytes, to=to, method=method, args=args, fuel_limit=fuel)
    return Transaction(**{**tx.to_map(), "signature": net.suite.sign(key.private_bytes, tx.signing_bytes())})


def contract(data: bytes) -> None:
    fx = contract_chain()
    chain = fx.cc.chain
    try:
        raw = contract_call(fx, ByteReader(data)).encode()
        checked = decode_and_check(chain.suite, chain.chain_id, raw, max_bytes=chain.params().max_tx_bytes)
    except ConsortiaError:
        return  # refused at admission, documented
    head = chain.head()
    done = chain.executor.execute_block([checked], height=head.height + 1, timestamp_ms=head.timestamp_ms + 1,
                                        prev_state_root=head.state_root, strict=False)
    if done.dropped:
        return  # e.g. a fuel limit above max_tx_fuel: never executed
    (receipt,) = done.receipts
    tx = checked.tx
    known = any(c.address == tx.to and tx.method in c.methods for c in fx.callees)
    outcome_feedback(f"{tx.to.hex()}.{tx.method if known else '?'}:{receipt.status}:{_VARIABLE.sub('#', receipt.error)}")
    assert receipt.fuel_used <= tx.fuel_limit, f"{tx.method}: fuel {receipt.fuel_used} charged above the limit {tx.fuel_limit}"
    assert receipt.fuel_used >= min(tx.fuel_limit, FUEL_TX_BASE + FUEL_PER_TX_BYTE * checked.size), "the base fuel was not charged"
    if receipt.status == STATUS_OK:
        return
    where = f"{tx.method} at 0x{tx.to.hex()}"
    assert receipt.error, f"{where}: a failed receipt without a reason"
    assert "internal error in contract" not in receipt.error, f"{where}: a host exception: {receipt.error}"
    assert "contract panicked" not in receipt.error, f"{where}: {receipt.error}"
    assert not done.state_writes, f"{where}: failed but wrote state {sorted(done.state_writes)}"
    assert receipt.events == () and receipt.return_value == b"", f"{where}: failed but emitted events or returned a value"


TARGETS: dict[str, Callable[[bytes], None]] = {
    "wire": wire,
    "consensus": consensus,
    "rpc": rpc,
    "state_proof": state_proof,
    "p2p": p2p,
    "contract": contract,
}

FIXTURES: dict[str, Callable[[], object]] = {  # what each target builds once (before a run's clock starts)
    "wire": fuzz_chain,
    "consensus": fuzz_chain,
    "rpc": fuzz_chain,
    "state_proof": fuzz_chain,
    "p2p": peer_node,
    "contract": contract_chain,
}
