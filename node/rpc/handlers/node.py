"""``node_*``: who this node is, what it runs and whom it is connected to."""

from __future__ import annotations

from typing import Any

from node import __version__
from node.rpc.env import RpcEnv
from node.rpc.jsonfmt import hx
from node.rpc.registry import rpc_method


@rpc_method("node_info")
def node_info(env: RpcEnv) -> dict[str, Any]:
    reader = env.reader
    head = reader.head()
    params = env.chain.params()
    sync = env.sync_lag()
    return {
        "version": __version__,
        "chain_id": reader.chain_id,
        "suite": reader.suite.name,
        "consensus": reader.genesis.consensus,
        "genesis_hash": hx(reader.genesis_hash()),
        "node_name": env.identity.name,
        "role": env.identity.role,
        "node_pubkey": hx(env.identity.pubkey),
        "node_address": hx(reader.suite.address(env.identity.pubkey)),
        "height": head.height,
        "head_hash": hx(head.block_hash),
        "state_root": hx(head.state_root),
        "validators": [hx(v) for v in env.chain.validators()],
        "pool_size": len(env.pool),
        "params": params.__dict__,
        "engine": env.engine_status(),
        "sync": {**env.sync(), "oldest_state_height": env.reader.store.tree_floor(),
                 "network_height": sync.network_height, "behind": sync.behind},
        "healthy": env.metrics.failure is None,
        "failure": env.metrics.failure,
        "fork": env.fork(),
    }


@rpc_method("node_peers", admin=True)  # peer addresses and link state: the operator's business
def node_peers(env: RpcEnv) -> list[Any]:
    return env.peers()
