"""What the PBFT services of one validator share: where it is (watermark, view), what it has
received per height, what it has promised (the vote journal), and counters for ``node_info``.

The ordering service (``ordering.py``), the view-change service (``viewchanger.py``) and the
message buffers (``buffers.py``) all work on one ``PbftState``; ``core.py`` wires them together.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TypeVar

from consensus.api import Application, ConsensusEnv
from consensus.certificate import quorum_size
from consensus.messages import M, sign_message
from consensus.pbft.journal import VoteJournal
from consensus.pbft.messages import MAX_PREPARED_CERTS, Commit, ConsensusMessage, Prepare, PreparedCert, PrePrepare
from node.crypto.base import KeyPair
from node.wire.types import Block

FUTURE_WINDOW = 64  # heights ahead of ours for which messages are buffered (beyond the active window)
V = TypeVar("V", Prepare, Commit)
VIEW_WINDOW = 16  # votes and view changes for views up to this far ahead are kept: we may see them before NEW-VIEW


@dataclass
class Slot:
    """Everything received for one height in flight."""

    height: int
    accepted: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)  # view -> (block encoding, hash), validated
    prepares: dict[tuple[int, bytes], dict[bytes, Prepare]] = field(default_factory=lambda: defaultdict(dict))
    commits: dict[tuple[int, bytes], dict[bytes, Commit]] = field(default_factory=lambda: defaultdict(dict))
    blocks: dict[bytes, Block] = field(default_factory=dict)  # hash -> validated block
    prepared: PreparedCert | None = None
    prepared_hash: bytes = b""
    sent_prepare: set[int] = field(default_factory=set)
    sent_commit: dict[int, bytes] = field(default_factory=dict)  # view -> hash we sent COMMIT for
    own_votes: list[ConsensusMessage] = field(default_factory=list)  # re-sent on timeout (lossy links)
    own_proposal: PrePrepare | None = None  # ours, when we are the primary: re-sent likewise


class PbftState:
    def __init__(self, app: Application, key: KeyPair, env: ConsensusEnv) -> None:
        self.app = app
        self.key = key
        self.env = env
        self.suite = app.suite
        self.chain_id = app.chain_id
        self.height = app.head().height + 1  # the lowest uncommitted height: the low watermark
        self.view = self.committed_view()
        self.height_start_view = self.view  # timeouts back off from it: the view this watermark started in, less the level carried over
        self.slots: dict[int, Slot] = {}
        self.journal = VoteJournal(app.store)
        self.journal.committed(self.height - 1)
        self.vc_target = max(self.view, self.journal.left_view)  # highest view we asked for (kept across restarts)
        self.dropped: dict[str, int] = defaultdict(int)
        self.view_changes_total = 0
        self.max_in_flight = 0
        self.carried_total = 0  # blocks re-proposed by NEW-VIEW from prepared certificates
        self.stopped = False

    # --- the validator set -------------------------------------------------------------------

    @property
    def validators(self) -> list[bytes]:
        return self.app.validators()

    def primary(self, view: int) -> bytes:
        vals = self.validators
        return vals[view % len(vals)]

    @property
    def quorum(self) -> int:
        return quorum_size(len(self.validators))

    @property
    def faulty(self) -> int:
        """f: how many validators may be Byzantine."""
        return len(self.validators) - self.quorum

    @property
    def is_validator(self) -> bool:
        return self.key.public_bytes in self.validators

    def current_votes(self, votes: dict[bytes, V]) -> dict[bytes, V]:
        """The votes of validators of the current set only. Votes are filed as they arrive, and
        some may have been filed for a height above a block that then changed the validator set
        (a removed validator's vote must never count towards a quorum or a certificate)."""
        allowed = set(self.validators)
        return {sender: vote for sender, vote in votes.items() if sender in allowed}

    def is_primary(self) -> bool:
        return self.is_validator and self.primary(self.view) == self.key.public_bytes

    # --- where we are ----------------------------------------------------------------------

    @property
    def window(self) -> int:
        return max(1, min(self.app.params().pbft_window, MAX_PREPARED_CERTS))

    @property
    def in_view_change(self) -> bool:
        return self.vc_target > self.view

    def committed_view(self) -> int:
        """The view of the last certificate: where the rest of the network is (after catch-up too)."""
        cert = self.app.store.get_certificate(self.app.head().height)
        return cert.view if cert is not None else 0

    def in_flight(self) -> list[int]:
        """Heights with a proposal accepted in the current view and not yet committed."""
        return sorted(h for h, s in self.slots.items() if self.view in s.accepted)

    def slot(self, height: int) -> Slot:
        slot = self.slots.get(height)
        if slot is None:
            slot = self.slots[height] = Slot(height)
        return slot

    def prepared_run(self) -> tuple[PreparedCert, ...]:
        """Our prepared certificates from the low watermark up, stopping at the first gap."""
        out: list[PreparedCert] = []
        h = self.height
        while h in self.slots and len(out) < MAX_PREPARED_CERTS:
            prepared = self.slots[h].prepared
            if prepared is None:
                break
            out.append(prepared)
            h += 1
        return tuple(out)

    def sign(self, msg: M) -> M:
        return sign_message(self.suite, self.key.private_bytes, self.chain_id, msg)
