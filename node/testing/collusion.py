"""Two or more colluding validators splitting the honest ones: for tests of more than f Byzantine.

Every colluder runs the normal engine and rewrites what it sends (``outgoing``). The honest
validators are split in key order into two sides: even positions see the real blocks, odd
positions a *twin* of each. The twin of a block is the empty block with the same height, view
and proposer, one millisecond later, on the twin of the parent when there is one: every colluder
computes the same twin from the real block alone, so no side channel is needed between them.

- The colluding primary sends the real proposal to the real side and to its partners, the
  twin proposal to the twin side.
- Every colluder votes (PREPARE, COMMIT) for the real block towards the real side and its
  partners, and for the twin towards the twin side: with two colluders of four, each honest
  validator sees a quorum for the block it was shown and commits it.

A colluder learns the real blocks it did not propose from the proposals it receives
(``observe``). Messages about heights up to ``after_height`` go out unchanged.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from consensus.messages import sign_message
from consensus.pbft.messages import Commit, Prepare, PrePrepare
from node.chain import Chain
from node.crypto.base import KeyPair
from node.errors import ConsortiaError
from node.wire.types import Block

log = logging.getLogger("consortia.byzantine")

Outgoing = list[tuple[bytes, Any]]  # (peer, message)


@dataclass
class Collusion:
    chain: Chain
    key: KeyPair
    partners: frozenset[bytes]  # the other colluders' public keys
    after_height: int = 0
    twins: dict[bytes, bytes] = field(default_factory=dict)  # real block hash -> its twin's hash
    twin_proposals: dict[bytes, PrePrepare] = field(default_factory=dict)  # real block hash -> signed twin proposal (ours)
    done: Counter[str] = field(default_factory=Counter)

    def twin_side(self, validators: list[bytes]) -> frozenset[bytes]:
        """The honest validators shown the twins: every other one in key order, from the second."""
        honest = sorted(v for v in validators if v != self.key.public_bytes and v not in self.partners)
        return frozenset(honest[1::2])

    def observe(self, msg: Any) -> None:
        """An incoming consensus message: learn the twin of a partner's real proposal."""
        if isinstance(msg, PrePrepare) and msg.sender in self.partners and msg.height > self.after_height:
            self._make_twin(msg)

    def outgoing(self, msg: Any, peers: list[bytes]) -> Outgoing:
        real = [(p, msg) for p in peers]
        if msg.height <= self.after_height or not isinstance(msg, (PrePrepare, Prepare, Commit)):
            return real
        if isinstance(msg, PrePrepare):
            real_hash = self._make_twin(msg)
            twin: Any = self.twin_proposals.get(real_hash) if real_hash is not None else None
        else:
            twin_hash = self.twins.get(msg.block_hash)
            twin = None if twin_hash is None else self._sign(replace(msg, block_hash=twin_hash, signature=b""))
        if twin is None:
            return real
        split = self.twin_side(self.chain.validators())
        self.done[f"split_{msg.kind}"] += 1
        if self.done[f"split_{msg.kind}"] == 1:
            log.warning("event=byzantine_misbehaviour behaviour=collude what=split_%s height=%d view=%d twin_side=%s",
                        msg.kind, msg.height, msg.view, ",".join(k.hex()[:16] for k in sorted(split)))
        return [(p, twin if p in split else msg) for p in peers]

    def _make_twin(self, msg: PrePrepare) -> bytes | None:
        """The twin of the block in ``msg`` (computed once); returns the real block's hash."""
        try:
            block = Block.decode(msg.block)
        except ConsortiaError:
            return None
        hdr = block.header
        real_hash = self.chain.suite.hash(hdr.encode())
        if real_hash in self.twins:
            return real_hash
        try:
            twin = self.chain.propose(height=hdr.height, view=hdr.view, proposer=hdr.proposer, timestamp_ms=hdr.timestamp_ms + 1,
                                      max_txs=0, parent_hash=self.twins.get(hdr.parent_hash, hdr.parent_hash))
        except ConsortiaError as exc:
            log.info("event=byzantine_no_twin height=%d reason=%r", hdr.height, exc.message)
            return None
        self.twins[real_hash] = twin.block_hash
        if hdr.proposer == self.key.public_bytes:
            self.twin_proposals[real_hash] = self._sign(PrePrepare(msg.height, msg.view, twin.block.encode(), self.key.public_bytes))
        return real_hash

    def _sign(self, msg: Any) -> Any:
        return sign_message(self.chain.suite, self.key.private_bytes, self.chain.chain_id, msg)
