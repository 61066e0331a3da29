"""The JSON-RPC handlers, one module per method namespace (``chain_*``, ``tx_*``, ...).

Importing this package registers every method in ``node.rpc.registry.METHODS``; a new namespace
module is added to ``NAMESPACES`` below, a new method in an existing namespace needs nothing here.
"""

from __future__ import annotations

from node.rpc.handlers import chain, did, gov, node, state, state_proofs, sub, tx
from node.rpc.registry import METHODS, MethodRegistry

NAMESPACES = (chain, tx, state, state_proofs, node, sub, gov, did)


def all_methods() -> MethodRegistry:
    """The registry with every namespace's methods in it."""
    return METHODS
