"""A fifth node joins a chain of several thousand blocks by snapshot sync, then follows every block."""

from __future__ import annotations

import asyncio
import secrets
import time

import aiohttp
import pytest

from node.config import NodeConfig
from node.crypto import get_suite
from node.devnet import make_local_net, prebuild_chain
from node.execution.system.registry import address_of
from node.sdk.verify import verify_state_proof
from node.wire import codec
from node.wire.types import Transaction

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SYSCONFIG = bytes(18) + (0x1000).to_bytes(2, "big")
BLOCKS = 3_000


async def rpc(session, url, method, *params):
    async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}) as r:
        reply = await r.json()
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply["result"]


COMMITTEE = address_of("committee")


def set_param(net, chain_height: int, name: str, value: int) -> bytes:
    admin = net.admins[0]
    suite = get_suite(net.genesis.suite)
    tx = Transaction(chain_id=net.genesis.chain_id, nonce=secrets.token_bytes(16), expiry_height=chain_height + 500,
                     sender_pubkey=admin.public_bytes, to=COMMITTEE, method="propose",
                     args=codec.encode({"type": "set_param", "payload": {"key": name, "value": value}}), fuel_limit=1_000_000)
    return Transaction(**{**tx.to_map(), "signature": suite.sign(admin.private_bytes, tx.signing_bytes())}).encode()


async def wait_height(session, url: str, height: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            h = await rpc(session, url, "chain_blockNumber")
            if h >= height:
                return h
        except (aiohttp.ClientError, RuntimeError):
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} did not reach height {height} within {timeout:.0f}s")


async def test_a_fifth_node_joins_by_snapshot_and_agrees_on_every_later_block(tmp_path):
    net = make_local_net(tmp_path, "std", validators=4, observers=1,
                         params={"block_interval_ms": 300, "min_seal_ms": 5, "tx_expiry_window": 100_000})
    names = ("block_interval_ms", "min_seal_ms", "consensus_timeout_ms", "tx_expiry_window")

    prebuilt: list[bytes] = []

    def some_writes(chain) -> list[bytes]:  # every tenth block changes a parameter: several tree versions
        h = chain.height
        if h % 10:
            return []
        prebuilt.append(set_param(net, h, names[h % 4], 300 + h % 7 if h % 4 == 0 else 5 + h % 9 if h % 4 == 1
                                  else 3_000 + h if h % 4 == 2 else 100_000 + h))
        return prebuilt[-1:]

    built = prebuild_chain(net, BLOCKS, some_writes)
    assert built == BLOCKS
    observer = net.nodes[4]
    cfg = NodeConfig.load(observer.home)
    cfg.sync.mode = "snapshot"
    cfg.save(observer.home)
    validators = net.nodes[:4]
    try:
        for n in validators:
            n.start()
        for n in validators:
            await n.wait_ready(60)
        async with aiohttp.ClientSession() as session:
            main = validators[0].url
            await wait_height(session, main, BLOCKS + 2, 60)  # consensus runs on from the prebuilt head
            observer.start()
            await observer.wait_ready(60)
            head = await wait_height(session, observer.url, BLOCKS, 90)
            assert head >= BLOCKS
            log = observer.log_path.read_text()
            assert "event=snapshot_done" in log, observer.log_tail()
            base = int(log.split("event=snapshot_installed height=")[1].split()[0])
            assert base >= BLOCKS
            assert await rpc(session, observer.url, "chain_getBlockByNumber", 1) is None  # history was not replayed
            sync = (await rpc(session, observer.url, "node_info"))["sync"]
            assert sync["mode"] == "snapshot" and sync["snapshot_base"] == base and sync["oldest_state_height"] == base
            assert sync["snapshot"]["phase"] == "done" and sync["snapshot"]["installed_height"] == base
            assert sync["snapshot"]["nodes_fetched"] > 0 and sync["snapshot"]["gave_up"] is None
            main_sync = (await rpc(session, main, "node_info"))["sync"]
            catching_up = {k: main_sync[k] for k in ("mode", "snapshot_base", "nonce_backfill_pending", "oldest_state_height")}
            assert catching_up == {"mode": "full", "snapshot_base": None, "nonce_backfill_pending": False, "oldest_state_height": 0}
            assert main_sync["behind"] == 0 and main_sync["network_height"] >= BLOCKS
            # Blocks keep coming, with writes: the observer executes them on the installed state.
            now = await rpc(session, main, "chain_blockNumber")
            for i, name in enumerate(names[:2]):
                await rpc(session, main, "tx_send", "0x" + set_param(net, now, name, 250 + i if i == 0 else 7).hex())
            target = now + 8
            await wait_height(session, main, target, 60)
            await wait_height(session, observer.url, target, 60)
            for h in range(base, target + 1):
                mine = await rpc(session, observer.url, "chain_getBlockByNumber", h)
                theirs = await rpc(session, main, "chain_getBlockByNumber", h)
                assert mine is not None and mine["hash"] == theirs["hash"], h
                assert mine["header"]["state_root"] == theirs["header"]["state_root"]
            for n in validators:  # and every node has the same block and root at the target
                block = await rpc(session, n.url, "chain_getBlockByNumber", target)
                assert block["hash"] == mine["hash"]
            # The nonces of the blocks below the snapshot were fetched too (replay protection).
            for _ in range(100):
                if "event=nonce_backfill_done" in observer.log_path.read_text():
                    break
                await asyncio.sleep(0.2)
            assert "event=nonce_backfill_done" in observer.log_path.read_text(), observer.log_tail()
            # A transaction committed below the snapshot, sent again to the observer: a known nonce.
            async with session.post(observer.url, json={"jsonrpc": "2.0", "id": 1, "method": "tx_send",
                                                        "params": ["0x" + prebuilt[-1].hex()]}) as r:
                replay = await r.json()
            assert replay["error"]["code"] == -32004, replay
            key = "0x" + (SYSCONFIG + b"param/min_seal_ms").hex()
            mine_proof = await rpc(session, observer.url, "state_getProof", key, target)
            main_proof = await rpc(session, main, "state_getProof", key, target)
            # Each node keeps the commit certificate it collected: any quorum of the validators, so
            # the signatures may differ while both prove the same block; everything else is equal.
            assert {k: v for k, v in mine_proof.items() if k != "certificate_raw"} == \
                {k: v for k, v in main_proof.items() if k != "certificate_raw"}
            validator_keys = [n.key.public_bytes for n in validators]
            for proof in (mine_proof, main_proof):
                assert verify_state_proof(get_suite(net.genesis.suite), proof, key=bytes.fromhex(key[2:]),
                                          chain_id=net.genesis.chain_id, validators=validator_keys,
                                          height=target) == codec.encode(7)
    finally:
        observer.stop()
        net.stop()


async def test_a_wiped_validator_rejoins_by_snapshot_and_votes_again(tmp_path):
    """The validator's data directory is lost; it rejoins by snapshot, and the chain then needs its
    votes (another validator is stopped: 3 of 4 must sign every block)."""
    import shutil

    from node.config import DATA_DIR

    net = make_local_net(tmp_path, "std", validators=4, params={"block_interval_ms": 200, "min_seal_ms": 5,
                                                                "tx_expiry_window": 100_000})
    built = prebuild_chain(net, 1_500)
    lost = net.nodes[3]
    shutil.rmtree(lost.home / DATA_DIR)
    cfg = NodeConfig.load(lost.home)
    cfg.sync.mode = "snapshot"
    cfg.save(lost.home)
    others = net.nodes[:3]
    try:
        for n in others:
            n.start()
        for n in others:
            await n.wait_ready(60)
        async with aiohttp.ClientSession() as session:
            await wait_height(session, others[0].url, built + 3, 60)
            lost.start()
            await lost.wait_ready(60)
            joined = await wait_height(session, lost.url, built + 3, 90)
            assert "event=snapshot_done" in lost.log_path.read_text(), lost.log_tail()
            assert joined >= built + 3
            others[0].stop()  # from now on no block commits without the rejoined validator's vote
            target = await rpc(session, others[1].url, "chain_blockNumber") + 5
            for n in (others[1], others[2], lost):
                await wait_height(session, n.url, target, 90)
            block = await rpc(session, lost.url, "chain_getBlockByNumber", target)
            assert block == await rpc(session, others[1].url, "chain_getBlockByNumber", target)
            signers = {v["validator"] for v in block["certificate"]["votes"]}
            assert "0x" + lost.key.public_bytes.hex() in signers
            assert "0x" + others[0].key.public_bytes.hex() not in signers
    finally:
        net.stop()
