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

import copy
import json
from collections.abc import Callable
from typing import Any

from consensus.messages import encode_message, verify_message
from consensus.pbft.messages import NewView, PrePrepare, ViewChange
from consensus.pbft.messages import decode_message as pbft_decode
from consensus.raft.messages import decode_message as raft_decode
from node.errors import ConsensusError, ConsortiaError, DecodeError, InternalError
from node.rpc.handlers import all_methods
from node.sdk.verify import verify_receipt_proof, verify_state_proof
from node.txcheck import check_transaction
from node.wire import codec
from node.wire.types import Block, BlockHeader, CommitCertificate, Receipt, Transaction
from tests.fuzz.fixture import fuzz_chain
from tests.fuzz.reader import ByteReader

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


TARGETS: dict[str, Callable[[bytes], None]] = {
    "wire": wire,
    "consensus": consensus,
    "rpc": rpc,
    "state_proof": state_proof,
}
