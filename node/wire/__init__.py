"""Wire types and their canonical msgpack codec."""

from node.wire.codec import decode, encode
from node.wire.types import (
    Block,
    BlockHeader,
    CommitCertificate,
    Event,
    Receipt,
    Transaction,
    Vote,
    commit_vote_bytes,
)

__all__ = [
    "Block",
    "BlockHeader",
    "CommitCertificate",
    "Event",
    "Receipt",
    "Transaction",
    "Vote",
    "commit_vote_bytes",
    "decode",
    "encode",
]
