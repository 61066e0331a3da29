"""Every error code in docs/json-rpc.md's table is provoked over real JSON-RPC, one cause each,
and the table lists exactly the codes the node can return."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import msgpack
import plyvel
import pytest

from node import errors
from node.rpc.access import AccessPolicy
from node.rpc.ratelimit import RateLimiter
from node.txpool import PoolLimits
from node.wire import codec
from tests.conftest import COMMITTEE
from tests.unit.rpc_node import RpcNode, rpc_node
from tests.unit.test_chain import seal
from tests.unit.test_chainview import DamagedStore

DOCS = Path(__file__).resolve().parents[2] / "docs" / "json-rpc.md"
SYSCONFIG_HEX = "0x" + "00" * 18 + "1000"


def documented_codes() -> dict[int, str]:
    """code -> kind, from the rows of the Errors table."""
    section = DOCS.read_text().split("## Errors", 1)[1].split("\n## ", 1)[0]
    return {int(code): kind for code, kind in re.findall(r"^\| (-32\d{3}) \| (\w+) \|", section, flags=re.MULTILINE)}


def raw_hex(tx) -> str:
    return "0x" + tx.encode().hex()


def resign(n: RpcNode, tx, key=None):
    key = key or n.net.user
    unsigned = replace(tx, signature=b"")
    return replace(unsigned, signature=n.net.suite.sign(key.private_bytes, unsigned.signing_bytes()))


async def codes_of(n: RpcNode, *calls: tuple[str, object]) -> set[int]:
    out = set()
    for method, params in calls:
        reply = await n.call(method, params)
        assert "error" in reply, (method, reply)
        out.add(reply["error"]["code"])
    return out


Provoke = Callable[[Path], Awaitable[set[int]]]
PROVOKE: dict[int, Provoke] = {}


def provokes(code: int) -> Callable[[Provoke], Provoke]:
    def register(fn: Provoke) -> Provoke:
        PROVOKE[code] = fn
        return fn

    return register


@provokes(-32700)
async def _parse(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False) as n:
        _, reply, _ = await n.post(b"{not json")
        return {reply["error"]["code"]}


@provokes(-32600)
async def _request(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False) as n:
        got = set()
        for body in (b"[]", b"42", {"jsonrpc": "2.0", "id": 1, "method": "node_info", "params": 3}):
            _, reply, _ = await n.post(body)
            got.add(reply["error"]["code"])
        status, reply, _ = await n.post({"jsonrpc": "2.0", "id": 1, "method": "node_info"}, content_type="text/plain")
        assert status == 415
        return got | {reply["error"]["code"]}


@provokes(-32601)
async def _method(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False) as n:
        return await codes_of(n, ("no_such", []))


@provokes(-32602)
async def _params(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False) as n:
        return await codes_of(n, ("chain_getBlockByNumber", [2**64]), ("chain_getBlockByNumber", {"height": -1}),
                              ("tx_get", ["0x12"]), ("state_call", {"to": SYSCONFIG_HEX}), ("node_info", [1]))


@provokes(-32603)
async def _internal(tmp: Path) -> set[int]:
    """Only a bug in the node: simulated by a reader that raises; the node logs it and keeps serving."""
    async with rpc_node(tmp, run_engine=False) as n:
        reader = n.rpc.env.reader

        def broken(height: int):
            raise RuntimeError("simulated bug")

        reader.block = broken
        got = await codes_of(n, ("chain_getBlockByNumber", [1]))
        delattr(reader, "block")
        assert (await n.call("chain_getBlockByNumber", [0]))["result"]["height"] == 0
        return got


@provokes(-32001)
async def _decode(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False) as n:
        tx = n.net.tx()
        unsorted = msgpack.packb(dict(reversed(list(tx.to_map().items()))), use_bin_type=True)
        short_nonce = codec.encode({**tx.to_map(), "nonce": b"short"})
        return await codes_of(n, ("tx_send", ["0xc1"]), ("tx_send", [raw_hex(tx) + "00"]),
                              ("tx_send", ["0x" + unsorted.hex()]), ("tx_send", ["0x" + short_nonce.hex()]))


@provokes(-32002)
async def _invalid_tx(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False, max_body_bytes=4 * 1024 * 1024, params={"max_tx_bytes": 4096, "max_code_bytes": 2048}) as n:
        net = n.net
        huge = resign(n, net.tx(args={"blob": b"x" * (1024 * 1024 + 1)}))  # over the 1 MiB ceiling
        big = resign(n, net.tx(args={"blob": b"x" * 8192}))  # over this chain's max_tx_bytes
        got = await codes_of(
            n,
            ("tx_send", [raw_hex(net.tx(chain_id="elsewhere"))]),
            ("tx_send", [raw_hex(net.tx(expiry_height=1))]),  # could not enter even the next block
            ("tx_send", [raw_hex(net.tx(expiry_height=10**6))]),
            ("tx_send", [raw_hex(net.tx(fuel_limit=10**12))]),
            ("tx_send", [raw_hex(big)]),
            ("tx_send", [raw_hex(huge)]),
        )
        assert len(n.chain.pool) == 0
        return got


@provokes(-32003)
async def _signature(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False) as n:
        good = n.net.tx()
        return await codes_of(n, ("tx_send", [raw_hex(replace(good, signature=bytes(64)))]),
                              ("tx_send", [raw_hex(replace(good, signature=good.signature[:32]))]))


@provokes(-32004)
async def _duplicate(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False) as n:
        tx = n.net.tx()
        assert "result" in await n.call("tx_send", [raw_hex(tx)])
        same_nonce = n.net.tx(nonce=tx.nonce, method="get", args={"key": "min_seal_ms"})
        return await codes_of(n, ("tx_send", [raw_hex(tx)]), ("tx_send", [raw_hex(same_nonce)]))


@provokes(-32005)
async def _pool_full(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False, pool_limits=PoolLimits(capacity=1, per_sender=1)) as n:
        assert "result" in await n.call("tx_send", [raw_hex(n.net.tx())])
        return await codes_of(n, ("tx_send", [raw_hex(n.net.tx())]))


@provokes(-32006)
async def _not_found(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False) as n:
        tx_hash = n.chain.submit(n.net.tx().encode())
        seal(n.chain, n.net.validator)
        reader = n.rpc.env.reader
        reader.store = DamagedStore(reader.store, no_block={1})
        return await codes_of(n, ("tx_getReceipt", ["0x" + tx_hash.hex(), True]))


@provokes(-32007)
async def _execution(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False) as n:
        return await codes_of(n, ("state_call", [SYSCONFIG_HEX, "set", "0x80"]),
                              ("state_call", {"to": "0x" + "ab" * 20, "method": "get"}))


@provokes(-32008)
async def _permission(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False) as n:
        status, reply, _ = await n.post({"jsonrpc": "2.0", "id": 1, "method": "node_info"},
                                        headers={"Origin": "https://elsewhere.example"})
        assert status == 403
        return {reply["error"]["code"]}


@provokes(-32009)
async def _too_large(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False) as n:
        _, batch, _ = await n.post([{"jsonrpc": "2.0", "id": i, "method": "chain_blockNumber"} for i in range(11)])
        status, body, _ = await n.post(b"[" + b" " * 70_000 + b"]")
        assert status == 413
        return {batch["error"]["code"], body["error"]["code"]}


@provokes(-32010)
async def _unavailable(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False) as n:
        return await codes_of(n, ("sub_subscribe", ["blocks"]))


@provokes(-32011)
async def _crypto(tmp: Path) -> set[int]:
    got = set()
    for i, (suite, bad_key) in enumerate((("std", bytes(32)),  # y = 0: a small-order Ed25519 point
                                          ("sm", b"\x04" + b"\x01" * 64),  # not on the SM2 curve
                                          ("sm", bytes(32)))):  # a key of the other suite's size
        async with rpc_node(tmp / str(i), suite=suite, run_engine=False) as n:
            tx = replace(n.net.tx(), sender_pubkey=bad_key)
            reply = await n.call("tx_send", [raw_hex(tx)])
            assert "public key" in reply["error"]["message"]
            got.add(reply["error"]["code"])
    return got


@provokes(-32012)
async def _store(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False) as n:
        store = n.chain.store
        real = store._db

        class Broken:
            def __getattr__(self, name: str) -> object:
                return getattr(real, name)

            def get(self, key: bytes, *args: object, **kwargs: object) -> bytes:
                raise plyvel.CorruptionError(b"Corruption: block checksum mismatch")

        store._db = Broken()
        try:
            return await codes_of(n, ("chain_getBlockByNumber", [0]))
        finally:
            store._db = real


@provokes(-32015)
async def _frozen(tmp: Path) -> set[int]:
    async with rpc_node(tmp, run_engine=False) as n:
        user = n.net.suite.address(n.net.user.public_bytes)
        n.chain.submit(n.net.tx(n.net.admin, **set_param_kw("freeze", {"address": user})).encode())  # one member: executes
        seal(n.chain, n.net.validator)
        return await codes_of(n, ("tx_send", [raw_hex(n.net.tx(n.net.user))]))


@provokes(-32016)
async def _rate_limited(tmp: Path) -> set[int]:
    policy = AccessPolicy(admin_from_localhost=False, limiter=RateLimiter(rate=0.001, burst=2))
    async with rpc_node(tmp, run_engine=False, access=policy) as n:
        for _ in range(2):
            assert "result" in await n.call("chain_blockNumber", [])
        return await codes_of(n, ("chain_blockNumber", []))


def set_param_kw(type_: str, payload: dict) -> dict:
    return {"to": COMMITTEE, "method": "propose", "args": {"type": type_, "payload": payload}}


def test_the_table_lists_every_code_the_node_returns_and_its_kind():
    table = documented_codes()
    assert set(table) == set(PROVOKE), "every documented code is provoked below, and only those"
    classes = {cls.code: cls.kind for cls in vars(errors).values()
               if isinstance(cls, type) and issubclass(cls, errors.ConsortiaError) and cls.code in table}
    assert classes == table


@pytest.mark.parametrize("code", sorted(PROVOKE))
async def test_each_documented_code_is_reachable_over_json_rpc(code: int, tmp_path: Path):
    assert await PROVOKE[code](tmp_path) == {code}
