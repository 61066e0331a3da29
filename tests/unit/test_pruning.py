"""Pruning old versions of the state tree: exactly the nodes of the kept heights stay, proofs below
them are refused with a clear error, and a changed setting or a restart leaves nothing behind."""

from __future__ import annotations

import pytest

from node.chain import Chain
from node.chainview import ChainReader
from node.config import NodeConfig, StoreConfig
from node.errors import ConfigError, StatePruned
from node.params import param_key
from node.sdk.verify import verify_state_proof
from node.store.chainstore import P_REPLACED, P_REPLACED_AT, P_TREE, ChainStore
from tests.conftest import set_param
from tests.unit.test_chain import seal
from tests.unit.test_statetree import reachable

PARAMS = (("block_interval_ms", (500, 600)), ("min_seal_ms", (30, 40)), ("consensus_timeout_ms", (4000, 5000)))


class Stored(dict):
    def __init__(self, chain: Chain) -> None:
        super().__init__()
        self.chain = chain

    def __missing__(self, node_hash: bytes) -> bytes:
        raw = self.chain.store.tree_node(node_hash)
        assert raw is not None, f"node {node_hash.hex()} of a kept height was pruned"
        return raw


def _chain(testnet, tmp_path, history: int, name: str = "p") -> Chain:
    return Chain(testnet.genesis, ChainStore(tmp_path / name, state_history=history))


def _block(chain: Chain, testnet, i: int) -> None:
    """Values flip between two settings: old nodes come back to life, which pruning must notice."""
    name, values = PARAMS[i % len(PARAMS)]
    tx = testnet.tx(testnet.admin, **set_param(name, values[(i // 3) % 2]), expiry_height=chain.height + 50)
    chain.submit(tx.encode())
    seal(chain, testnet.validator)


def _stored_nodes(chain: Chain) -> set[bytes]:
    return {k[1:] for k, _ in chain.store._scan(prefix=P_TREE)}


def _kept(chain: Chain) -> set[bytes]:
    nodes: set[bytes] = set()
    for h in range(chain.store.tree_floor(), chain.height + 1):
        nodes |= reachable(Stored(chain), chain.store.get_header(h).state_root)
    return nodes


def test_exactly_the_trees_of_the_kept_heights_stay(testnet, tmp_path):
    chain = _chain(testnet, tmp_path, history=3)
    all_nodes = set(_stored_nodes(chain))
    for i in range(24):
        _block(chain, testnet, i)
        all_nodes |= _stored_nodes(chain)
        assert chain.store.tree_floor() == max(0, chain.height - 3)
        assert _stored_nodes(chain) == _kept(chain)
    assert len(all_nodes) > len(_stored_nodes(chain))  # something was pruned
    records = {k for k, _ in chain.store._scan(prefix=P_REPLACED)}
    assert all(int.from_bytes(k[1:9], "big") > chain.height - 3 for k in records)
    assert {k[1:] for k, _ in chain.store._scan(prefix=P_REPLACED_AT)} == {k[9:] for k in records}


def test_an_archival_store_keeps_every_version(testnet, tmp_path):
    chain = _chain(testnet, tmp_path, history=0)
    for i in range(9):
        _block(chain, testnet, i)
    assert chain.store.tree_floor() == 0
    everything = set()
    for h in range(chain.height + 1):
        everything |= reachable(Stored(chain), chain.store.get_header(h).state_root)
    assert _stored_nodes(chain) == everything
    assert not list(chain.store._scan(prefix=P_REPLACED))


def test_a_proof_below_the_kept_heights_is_refused_with_the_oldest_provable_height(testnet, tmp_path):
    chain = _chain(testnet, tmp_path, history=4)
    for i in range(12):
        _block(chain, testnet, i)
    reader = ChainReader(chain.store, chain.suite, chain.genesis)
    key = param_key("block_interval_ms")
    with pytest.raises(StatePruned) as caught:
        reader.state_proof(key, 7)
    assert caught.value.code == -32006 and caught.value.data == {"oldest_height": 8}
    for h in range(8, 13):
        proof = reader.state_proof(key, h)
        assert proof is not None
        value = verify_state_proof(chain.suite, proof.to_json(), key=key, chain_id=chain.chain_id,
                                   validators=[testnet.validator.public_bytes], height=h)
        assert value == proof.value
    assert not chain.holds_tree(7) and chain.holds_tree(8) and chain.holds_tree(12) and not chain.holds_tree(13)


def test_a_changed_setting_after_a_restart_prunes_everything_below_the_new_floor(testnet, tmp_path):
    chain = _chain(testnet, tmp_path, history=10)
    for i in range(14):
        _block(chain, testnet, i)
    assert _stored_nodes(chain) == _kept(chain)
    chain.store.close()
    chain = _chain(testnet, tmp_path, history=2)  # the same data directory, a shorter history
    _block(chain, testnet, 14)
    assert chain.store.tree_floor() == 13
    assert _stored_nodes(chain) == _kept(chain)
    chain.store.close()
    chain = _chain(testnet, tmp_path, history=0)  # archival from now on: nothing more is deleted
    before = _stored_nodes(chain)
    for i in range(15, 19):
        _block(chain, testnet, i)
    assert before <= _stored_nodes(chain)


def test_store_setting_defaults_to_archival_and_is_checked(tmp_path):
    assert NodeConfig(name="v", role="validator").state_history() == 0
    assert NodeConfig(name="o", role="observer").state_history() == 0
    cfg = NodeConfig(name="v", role="validator", store=StoreConfig(state_history_blocks=5000))
    cfg.save(tmp_path)
    assert NodeConfig.load(tmp_path).state_history() == 5000
    text = (tmp_path / "config.toml").read_text()
    (tmp_path / "config.toml").write_text(text.replace("state_history_blocks = 5000", "state_history_blocks = -5"))
    with pytest.raises(ConfigError, match="state_history_blocks"):
        NodeConfig.load(tmp_path)


def test_a_pruning_node_serves_snapshots_of_kept_heights_only_and_a_snapshot_drops_old_records(testnet, tmp_path):
    from node.p2p.snapshot import serve_nodes
    from tests.unit.test_snapshot_sync import _client, _run, _same_chain, _start

    server = _chain(testnet, tmp_path, history=3, name="server")
    for i in range(20):
        _block(server, testnet, i)
    old = server.store.get_header(10).state_root
    ask = {"height": 10, "root": old, "hashes": [old], "max_bytes": 1 << 20}
    assert serve_nodes(server, ask, 1 << 24, holds=server.holds_tree)["nodes"] == []
    head = server.head().state_root
    assert serve_nodes(server, {**ask, "height": 20, "root": head, "hashes": [head]}, 1 << 24, holds=server.holds_tree)["nodes"]
    # A client that pruned its own short history (records pending) joins by snapshot.
    b, net, blocks, clock, sync = _client(testnet, tmp_path, "client")
    b.store.state_history = 2
    for i in range(3):
        _block(b, testnet, 100 + i)
    assert list(b.store._scan(prefix=P_REPLACED))
    peer = b"p" * 32
    net.add(peer, server)
    blocks.peer_heights[peer] = server.height
    _start(sync)
    _run(sync, net, clock)
    _same_chain(server, b)
    assert not list(b.store._scan(prefix=P_REPLACED)) and not list(b.store._scan(prefix=P_REPLACED_AT))
    assert b.store.tree_floor() == 20 and not b.holds_tree(19)
    for i in range(20, 26):  # it follows blocks, pruning as it goes; the kept trees stay whole
        _block(server, testnet, i)
        block = server.store.get_block(server.height)
        b.validate(block)
        b.commit(block, server.store.get_certificate(server.height))
        assert _kept(b) <= _stored_nodes(b)
    assert b.head() == server.head()
