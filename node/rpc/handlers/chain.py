"""``chain_*``: committed blocks and their certificates."""

from __future__ import annotations

from typing import Any

from node.chainview import StoredBlock
from node.rpc.env import RpcEnv
from node.rpc.jsonfmt import block_json, cert_json, parse_hex
from node.rpc.params import bool_param, int_param
from node.rpc.registry import rpc_method


def _block(env: RpcEnv, stored: StoredBlock | None, full: bool) -> dict[str, Any] | None:
    if stored is None:
        return None
    return block_json(stored.block, stored.block_hash, env.reader.suite, stored.certificate, full=full)


@rpc_method("chain_blockNumber")
def chain_block_number(env: RpcEnv) -> int:
    return env.reader.height


@rpc_method("chain_getBlockByNumber")
def chain_get_block_by_number(env: RpcEnv, height: Any, full: Any = False) -> dict[str, Any] | None:
    number, want_full = int_param(height, "height"), bool_param(full, "full")
    return _block(env, env.reader.block(number), want_full)


@rpc_method("chain_getBlockByHash")
def chain_get_block_by_hash(env: RpcEnv, hash: Any, full: Any = False) -> dict[str, Any] | None:
    block_hash, want_full = parse_hex(hash, "hash", size=32), bool_param(full, "full")
    height = env.reader.height_of(block_hash)
    return None if height is None else _block(env, env.reader.block(height), want_full)


@rpc_method("chain_getCertificate")
def chain_get_certificate(env: RpcEnv, height: Any) -> dict[str, Any] | None:
    """The same object as a block's ``certificate`` (votes as an array), or null."""
    return cert_json(env.reader.certificate(int_param(height, "height")))
