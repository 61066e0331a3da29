"""Fork detection: proof that two different blocks were finalised at one height, and the halt.

With at most f Byzantine validators PBFT never certifies two blocks at one height. With more,
nothing can stop it (2 colluders + 1 honest node make a quorum of 3 of 4 on each side), but the
proof is easy to recognise: two commit certificates for one height and two hashes, each a quorum
of valid signatures of that height's validator set. Whoever signed both is a double signer.

``ForkWatch`` is handed every certificate that reaches the node from outside a consensus round
it finished itself (block sync answers, peers' status announcements, the engine's stale votes).
On the first proof it stores the evidence (``META_FORK`` in the node database: it survives a
restart), logs one ``event=fork_detected`` line and publishes ``ForkDetected``: the engine stops
voting and proposing, block sync stops applying, ``/health`` and ``node_info`` report it. A node
that starts with evidence in its database stays halted until an operator clears it
(``consortia node clear-fork``, docs/operator-guide.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgpack

from consensus.certificate import verify_certificate
from node.crypto.base import CryptoSuite
from node.errors import ConsortiaError
from node.events import BlockCommitted, EventBus, ForkDetected
from node.execution.system.sysconfig import NODE_PREFIX, NodeRecord
from node.genesis import Genesis
from node.statetree.nodes import CommittedNodes
from node.statetree.tree import lookup
from node.wire.types import BlockHeader, CommitCertificate

log = logging.getLogger("consortia.fork")

META_FORK = "fork.evidence"  # msgpack map (ForkEvidence.to_map); empty or absent: no fork known
REFUSED_PAUSE_S = 1.0  # a peer that sent a certificate that does not verify gets no signature checks for this long


class ForkStore(Protocol):
    def meta_get(self, name: str) -> bytes | None: ...

    def meta_put(self, name: str, value: bytes, *, sync: bool = True) -> None: ...

    def get_block_hash(self, height: int) -> bytes | None: ...

    def get_certificate(self, height: int) -> CommitCertificate | None: ...

    def get_header(self, height: int) -> BlockHeader | None: ...

    def tree_node(self, node_hash: bytes) -> bytes | None: ...

    def tree_floor(self) -> int: ...


class ForkChain(Protocol):
    """What the fork watch reads from the node's chain (``node.chain.Chain`` provides it)."""

    chain_id: str
    suite: CryptoSuite
    genesis: Genesis
    bus: EventBus

    @property
    def store(self) -> Any: ...  # a ForkStore

    @property
    def height(self) -> int: ...

    def validators(self) -> list[bytes]: ...

    def nodes(self) -> list[NodeRecord]: ...


@dataclass(frozen=True)
class ForkEvidence:
    """Two certificates for one height and two block hashes. ``ours``: the block this node
    committed at ``height`` (``committed``), or the first certificate it saw if it committed
    neither. Headers are the encoded headers when known (b"" when not)."""

    height: int
    ours_cert: bytes
    theirs_cert: bytes
    ours_header: bytes
    theirs_header: bytes
    committed: bool
    double_signers: tuple[bytes, ...]
    source: str  # where the second certificate came from: "sync", "status" or "consensus"
    peer: bytes  # who sent it (b"" when the engine assembled it from votes)
    detected_at_ms: int

    @property
    def ours(self) -> CommitCertificate:
        return CommitCertificate.decode(self.ours_cert)

    @property
    def theirs(self) -> CommitCertificate:
        return CommitCertificate.decode(self.theirs_cert)

    def to_map(self) -> dict[str, Any]:
        return {"height": self.height, "ours_cert": self.ours_cert, "theirs_cert": self.theirs_cert,
                "ours_header": self.ours_header, "theirs_header": self.theirs_header, "committed": self.committed,
                "double_signers": list(self.double_signers), "source": self.source, "peer": self.peer,
                "detected_at_ms": self.detected_at_ms}

    def encode(self) -> bytes:
        return msgpack.packb(self.to_map())

    @classmethod
    def decode(cls, raw: bytes) -> ForkEvidence:
        m = msgpack.unpackb(raw)
        return cls(height=int(m["height"]), ours_cert=bytes(m["ours_cert"]), theirs_cert=bytes(m["theirs_cert"]),
                   ours_header=bytes(m["ours_header"]), theirs_header=bytes(m["theirs_header"]),
                   committed=bool(m["committed"]), double_signers=tuple(bytes(k) for k in m["double_signers"]),
                   source=str(m["source"]), peer=bytes(m["peer"]), detected_at_ms=int(m["detected_at_ms"]))

    def summary(self, names: dict[bytes, str]) -> dict[str, Any]:
        """The JSON form of ``node_info.fork`` and ``/health``'s ``fork`` (docs/json-rpc.md)."""
        return {
            "height": self.height,
            "ours": "0x" + self.ours.block_hash.hex(),
            "theirs": "0x" + self.theirs.block_hash.hex(),
            "committed_ours": self.committed,
            "double_signers": ["0x" + k.hex() for k in self.double_signers],
            "double_signer_names": [names.get(k, "") for k in self.double_signers],
            "source": self.source,
            "peer": "0x" + self.peer.hex() if self.peer else None,
            "detected_at_ms": self.detected_at_ms,
        }


def double_signers(a: CommitCertificate, b: CommitCertificate) -> tuple[bytes, ...]:
    """Validators whose votes appear in both certificates, in key order."""
    return tuple(sorted({v.validator for v in a.votes} & {v.validator for v in b.votes}))


def load_evidence(store: ForkStore) -> ForkEvidence | None:
    raw = store.meta_get(META_FORK)
    if not raw:
        return None
    return ForkEvidence.decode(raw)


def clear_evidence(store: ForkStore) -> ForkEvidence | None:
    """Remove the stored evidence (the operator's ``clear-fork``); returns what was removed."""
    found = load_evidence(store)
    store.meta_put(META_FORK, b"", sync=True)
    return found


def validator_set(chain: ForkChain, height: int, extra: Iterable[bytes] = ()) -> list[bytes]:
    """The validators that certify ``height``: the node list after block ``height - 1``.

    For a height above our head it is the current set (the best this node knows). At or below
    the head it is read from the state tree of block ``height - 1``, for every key in the
    current node list and in ``extra`` (the signers of the certificate being checked); where that
    tree is pruned, the current set is used."""
    if height > chain.height:
        return chain.validators()
    store = chain.store
    parent = store.get_header(height - 1)
    if parent is None or height - 1 < store.tree_floor():
        return chain.validators()
    nodes = CommittedNodes(store.tree_node)
    out = []
    for key in sorted({n.pubkey for n in chain.nodes()} | set(extra)):
        raw = lookup(chain.suite.hash, nodes, parent.state_root, NODE_PREFIX + key)
        if raw is not None and NodeRecord.decode(key, raw).role == "validator":
            out.append(key)
    return out


class ForkWatch:
    """Checks certificates from peers against the node's chain and halts the node on a fork."""

    def __init__(self, chain: ForkChain, quorum: Callable[[int], int], clock: Callable[[], float] = time.time,
                 enabled: bool = True, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.chain = chain
        self.quorum = quorum
        self.clock = clock
        self.monotonic = monotonic
        self._refused: dict[bytes, float] = {}  # peer -> when its last certificate failed verification
        self.enabled = enabled  # tests switch detection off to prove theirs fail without it
        self.evidence = load_evidence(chain.store)
        self._above: dict[bytes, tuple[CommitCertificate, bytes]] = {}  # peer -> its head above ours (cert, header), unverified
        self.checked = 0  # certificates verified here (a differing hash made it worth the signatures)
        chain.bus.subscribe(BlockCommitted, lambda event: self.on_commit(event.block.height))

    @property
    def halted(self) -> bool:
        return self.evidence is not None

    def restore(self) -> None:
        """At start-up with evidence in the database: tell everyone to stay out (no new log line)."""
        if self.evidence is not None:
            log.error("event=fork_evidence_present height=%d ours=%s theirs=%s double_signers=%s "
                      "note='not taking part until an operator runs consortia node clear-fork'",
                      self.evidence.height, self.evidence.ours.block_hash.hex(), self.evidence.theirs.block_hash.hex(),
                      self._names(self.evidence.double_signers))
            self.chain.bus.publish(ForkDetected(self.evidence, restored=True))

    # --- what arrives from peers --------------------------------------------------------------

    def check(self, cert: CommitCertificate, header: bytes | None, *, peer: bytes, source: str) -> bool:
        """A certificate from ``peer`` (with its block's encoded header, if it came with one).
        True once a fork is known (found now or before)."""
        if self.evidence is not None:
            return True
        if not self.enabled or cert.chain_id != self.chain.chain_id or cert.height < 1:
            return False
        header = header if header is not None and self._header_matches(cert, header) else b""
        ours = self.chain.store.get_block_hash(cert.height)
        if ours is None:
            if cert.height > self.chain.height:
                self._above[peer] = (cert, header)
                self._compare_above(cert.height)
            return self.halted
        if ours == cert.block_hash or self._paused(peer) or not self._verifies(cert, peer):
            return False
        our_cert = self.chain.store.get_certificate(cert.height)
        if our_cert is None or not self._verifies(our_cert, b""):
            return False  # below a snapshot base there is no certificate of ours to set against it
        our_header = self.chain.store.get_header(cert.height)
        self._found(our_cert, our_header.encode() if our_header is not None else b"", cert, header, committed=True,
                    peer=peer, source=source)
        return True

    def on_commit(self, height: int) -> None:
        """We committed ``height``: set the peers' certificates for it against ours."""
        if self.evidence is not None:
            return
        for peer, (cert, header) in list(self._above.items()):
            if cert.height <= height:
                del self._above[peer]
                if cert.height == height:
                    self.check(cert, header, peer=peer, source="status")

    def _compare_above(self, height: int) -> None:
        """Two peers' certificates for one height above ours, for different blocks."""
        at = [(p, c, h) for p, (c, h) in self._above.items() if c.height == height]
        for i, (_, c1, h1) in enumerate(at):
            for p2, c2, h2 in at[i + 1:]:
                if c1.block_hash != c2.block_hash and self._verifies(c1, b"") and self._verifies(c2, b""):
                    self._found(c1, h1, c2, h2, committed=False, peer=p2, source="status")
                    return

    # --- checking -------------------------------------------------------------------------------

    def _header_matches(self, cert: CommitCertificate, header: bytes) -> bool:
        try:
            decoded = BlockHeader.decode(header)
        except ConsortiaError:
            return False
        return decoded.height == cert.height and self.chain.suite.hash(header) == cert.block_hash

    def _paused(self, peer: bytes) -> bool:
        """A hostile peer cannot make us check signatures in bulk: after a refused certificate
        its next ones are ignored for ``REFUSED_PAUSE_S`` (an honest peer never sends one)."""
        refused = self._refused.get(peer)
        return refused is not None and self.monotonic() - refused < REFUSED_PAUSE_S

    def _verifies(self, cert: CommitCertificate, peer: bytes) -> bool:
        validators = validator_set(self.chain, cert.height, (v.validator for v in cert.votes))
        self.checked += 1
        try:
            verify_certificate(self.chain.suite, cert, chain_id=self.chain.chain_id, height=cert.height,
                               block_hash=cert.block_hash, validators=validators, quorum=self.quorum(len(validators)))
        except ConsortiaError as exc:
            if peer:
                if len(self._refused) > 1024:
                    self._refused.clear()
                self._refused[peer] = self.monotonic()
            log.info("event=fork_certificate_refused height=%d hash=%s reason=%r", cert.height, cert.block_hash.hex()[:16],
                     exc.message)
            return False
        return True

    def _found(self, ours: CommitCertificate, ours_header: bytes, theirs: CommitCertificate, theirs_header: bytes, *,
               committed: bool, peer: bytes, source: str) -> None:
        evidence = ForkEvidence(height=ours.height, ours_cert=ours.encode(), theirs_cert=theirs.encode(),
                                ours_header=ours_header, theirs_header=theirs_header, committed=committed,
                                double_signers=double_signers(ours, theirs), source=source, peer=peer,
                                detected_at_ms=int(self.clock() * 1000))
        self.evidence = evidence
        self._above.clear()
        self.chain.store.meta_put(META_FORK, evidence.encode(), sync=True)
        log.critical("event=fork_detected height=%d ours=%s theirs=%s double_signers=%s committed_ours=%s source=%s peer=%s",
                     evidence.height, ours.block_hash.hex(), theirs.block_hash.hex(), self._names(evidence.double_signers),
                     str(committed).lower(), source, peer.hex()[:16] or "-")
        self.chain.bus.publish(ForkDetected(evidence))

    # --- reporting --------------------------------------------------------------------------------

    def names(self) -> dict[bytes, str]:
        return {n.pubkey: n.name for n in self.chain.nodes()}

    def _names(self, keys: Sequence[bytes]) -> str:
        names = self.names()
        return ",".join(names.get(k) or k.hex()[:16] for k in keys) or "-"

    def summary(self) -> dict[str, Any] | None:
        """``node_info.fork``: null while no fork is known."""
        return None if self.evidence is None else self.evidence.summary(self.names())
