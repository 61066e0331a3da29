"""A node that knows it is behind the network: ``node_info`` says by how much, and ``tx_send``
refuses a transaction already expired at the network's height (which it would otherwise
acknowledge, forward and see dropped), while one that can still commit is admitted as before."""

from __future__ import annotations

import json

import pytest

from node.chain import Chain
from node.metrics import NodeMetrics
from node.rpc.dispatch import Dispatcher
from node.rpc.env import NodeIdentity, RpcEnv
from node.rpc.handlers import all_methods
from node.store.chainstore import ChainStore
from tests.conftest import make_testnet
from tests.unit.test_chain import seal


@pytest.fixture
def lagging(tmp_path):
    """A chain at height 3 whose peers announce height 3 + ``network[0]``."""
    net = make_testnet("std")
    store = ChainStore(tmp_path / "data", create=True)
    chain = Chain(net.genesis, store)
    for _ in range(3):
        seal(chain, net.validator)
    network = [0]
    env = RpcEnv.for_chain(chain, NodeIdentity("validator-0", "validator", net.validator.public_bytes), NodeMetrics(chain.bus),
                           engine=None, network_height=lambda: chain.height + network[0])
    yield net, chain, Dispatcher(all_methods(), env, max_batch=10), network
    store.close()


async def call(dispatcher: Dispatcher, method: str, *params) -> dict:
    return await dispatcher.handle_body(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode())


async def test_node_info_reports_how_far_behind_the_node_is(lagging):
    net, chain, dispatcher, network = lagging
    assert _lag((await call(dispatcher, "node_info"))["result"]["sync"]) == {"network_height": 3, "behind": 0}
    network[0] = 250
    assert _lag((await call(dispatcher, "node_info"))["result"]["sync"]) == {"network_height": 253, "behind": 250}


async def test_a_transaction_expired_at_the_network_is_refused_by_a_lagging_node(lagging):
    net, chain, dispatcher, network = lagging
    network[0] = 250
    dead = net.tx(net.admin, method="set", args={"key": "min_seal_ms", "value": 30}, expiry_height=chain.height + 100)
    reply = await call(dispatcher, "tx_send", "0x" + dead.encode().hex())
    assert reply["error"]["code"] == -32002, reply  # invalid_transaction, as any expired transaction
    assert "250 blocks behind" in reply["error"]["message"]
    assert chain.pool.get(chain.suite.hash(dead.signing_bytes())) is None
    alive = net.tx(net.admin, method="set", args={"key": "min_seal_ms", "value": 31}, expiry_height=chain.height + 500)
    assert "result" in await call(dispatcher, "tx_send", "0x" + alive.encode().hex())


async def test_the_documented_order_of_admission_errors_holds_on_a_lagging_node(lagging):
    """Rules before the expiry window still decide first: the chain id, then the sender key."""
    net, chain, dispatcher, network = lagging
    network[0] = 250
    other_chain = net.tx(net.admin, expiry_height=chain.height + 100, chain_id="elsewhere")
    reply = await call(dispatcher, "tx_send", "0x" + other_chain.encode().hex())
    assert "wrong chain id" in reply["error"]["message"], reply
    from dataclasses import replace

    bad_key = replace(net.tx(net.admin, expiry_height=chain.height + 100), sender_pubkey=b"\x01" * 33)
    assert (await call(dispatcher, "tx_send", "0x" + bad_key.encode().hex()))["error"]["code"] == -32011


async def test_an_up_to_date_node_admits_as_before(lagging):
    net, chain, dispatcher, network = lagging
    tx = net.tx(net.admin, method="set", args={"key": "min_seal_ms", "value": 30}, expiry_height=chain.height + 2)
    assert "result" in await call(dispatcher, "tx_send", "0x" + tx.encode().hex())
    garbage = await call(dispatcher, "tx_send", "0x00")
    network[0] = 5
    assert (await call(dispatcher, "tx_send", "0x00"))["error"] == garbage["error"]  # admission's own error


def test_the_network_height_is_what_f_plus_one_validators_announce(tmp_path):
    """One lying validator (f = 1 of 4) announcing a huge height cannot make an honest node
    believe it is behind: the height counted is the second highest of the four."""
    from node.devnet import free_port
    from node.genesis import Genesis, GenesisNode
    from node.p2p.certs import make_ca, write_node_tls
    from node.p2p.service import NetworkService

    net = make_testnet("std")
    keys = [net.validator] + [net.suite.generate_keypair() for _ in range(3)]
    genesis = Genesis(chain_id="test-chain", suite="std", consensus="pbft", timestamp_ms=1_700_000_000_000,
                      nodes=tuple(GenesisNode(f"v{i}", "validator", k.public_bytes, "127.0.0.1", 1 + i) for i, k in enumerate(keys)),
                      admins=net.genesis.admins)
    chain = Chain(genesis, ChainStore(tmp_path / "data", create=True))
    write_node_tls(tmp_path, make_ca("test"), "v0", net.validator.public_bytes)
    service = NetworkService(chain, net.validator, tmp_path, "127.0.0.1", free_port())
    try:
        assert service.network_height() == 0  # nobody heard from yet: our own head
        liar, a, b = keys[1].public_bytes, keys[2].public_bytes, keys[3].public_bytes
        service.sync.peer_heights[liar] = 10**9
        assert service.network_height() == 0
        service.sync.peer_heights.update({a: 40, b: 25})
        assert service.network_height() == 40
        service.sync.peer_heights[b] = 10**9  # a second liar: more than f, no longer bounded
        assert service.network_height() == 10**9
    finally:
        chain.store.close()


def _lag(sync: dict) -> dict:
    """The lag fields of ``node_info.sync`` (it also says how the node catches up)."""
    return {key: sync[key] for key in ("network_height", "behind")}
