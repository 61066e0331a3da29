"""The authenticated state tree: a binary Merkle Patricia tree over the hashes of state keys.

Only branch nodes where keys diverge and leaf nodes exist (no chains of single-child nodes), so a
write costs about log2(number of keys) hashes; a block's writes are applied in one batch, which
hashes each touched node once. Nodes are content-addressed and never change, so a pending block's
new nodes can sit in memory over its parent's (``NodeLayer``) and its root is computed without
copying anything. The format is described byte by byte in docs/state-proofs.md.

This package is in the data layer and knows nothing of the store: it reads nodes through the
``NodeSource`` protocol (``get(node_hash)``), which a dict, a ``NodeLayer`` and the chain's
committed-node reader all satisfy.
"""

from node.statetree.nodes import (
    EMPTY_ROOT,
    CachedNodes,
    CommittedNodes,
    NodeLayer,
    NodeSource,
    TreeError,
    head_root_is_stored,
)
from node.statetree.proof import ProofError, StateProof, TreeProof, prove, verify_tree_proof
from node.statetree.tree import TreeUpdate, lookup, update

__all__ = [
    "EMPTY_ROOT",
    "CachedNodes",
    "CommittedNodes",
    "NodeLayer",
    "NodeSource",
    "ProofError",
    "StateProof",
    "TreeError",
    "TreeProof",
    "TreeUpdate",
    "head_root_is_stored",
    "lookup",
    "prove",
    "update",
    "verify_tree_proof",
]
