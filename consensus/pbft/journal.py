"""What this validator has signed for heights not yet committed, kept on disk.

PBFT's safety argument counts each honest validator once per (height, view): it proposes,
prepares and commits at most one block there, and after asking to leave a view it never votes in
it again. A validator that forgot this in a crash could break those promises after restarting
(an equivocating primary would get a second PREPARE from it). So every proposal, vote and
view-change request is written here (synchronously) before it is sent, and checked on restart.
Entries at or below the committed head are dropped: those heights are decided.
"""

from __future__ import annotations

import msgpack

from consensus.api import ConsensusStore
from node.errors import DecodeError

JOURNAL_KEY = "pbft.journal"
KINDS = ("preprepare", "prepare", "commit")
SYNC = True  # a validator must not double-sign after a power loss either (like Raft's term and vote)


class VoteJournal:
    def __init__(self, store: ConsensusStore) -> None:
        self.store = store
        self.signed: dict[tuple[str, int, int], bytes] = {}  # (kind, height, view) -> block hash
        self.left_view = 0  # the highest view we asked to move to (we vote in no view below it)
        self._load(store.meta_get(JOURNAL_KEY))

    def _load(self, raw: bytes | None) -> None:
        if raw is None:
            return
        try:
            data = msgpack.unpackb(raw)
            self.left_view = int(data["left_view"])
            for kind, height, view, block_hash in data["signed"]:
                if kind in KINDS and type(block_hash) is bytes:
                    self.signed[(kind, int(height), int(view))] = block_hash
        except (ValueError, KeyError, TypeError, msgpack.ExtraData) as exc:
            raise DecodeError(f"the PBFT vote journal in the node database is corrupt: {exc}") from None

    def _save(self) -> None:
        entries = [[k, h, v, b] for (k, h, v), b in sorted(self.signed.items())]
        self.store.meta_put(JOURNAL_KEY, msgpack.packb({"left_view": self.left_view, "signed": entries}), sync=SYNC)

    def may_sign(self, kind: str, height: int, view: int, block_hash: bytes) -> bool:
        """False if we already signed a different block for this (kind, height, view)."""
        known = self.signed.get((kind, height, view))
        return known is None or known == block_hash

    def signed_before(self, kind: str, height: int, view: int) -> bytes | None:
        return self.signed.get((kind, height, view))

    def record(self, kind: str, height: int, view: int, block_hash: bytes) -> None:
        """Call before sending: once written, a restart cannot sign another block here."""
        if self.signed.get((kind, height, view)) != block_hash:
            self.signed[(kind, height, view)] = block_hash
            self._save()

    def record_view_change(self, new_view: int) -> None:
        if new_view > self.left_view:
            self.left_view = new_view
            self._save()

    def committed(self, height: int) -> None:
        """Forget heights at or below ``height`` (in memory; the next write drops them on disk)."""
        for key in [k for k in self.signed if k[1] <= height]:
            del self.signed[key]
