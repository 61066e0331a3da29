"""Secure aggregation for horizontal federated averaging (the SecAgg / SecAgg+ design, no Flower runtime).

Clients hold model updates; the server learns only the sample-weighted sum of the updates of the
clients whose masked input it received, even when some of them drop out after masking.

Rounds (roster = the agreed, sorted client names; Shamir x of a client = its position + 1):

0. ``sa.key`` client <-> client ``{pk}`` (pairwise mask keys, X25519) and client -> server
   ``{pk, b_commit}`` (the same key, and SHA-512/256 of its self-mask seed ``b``).
1. ``sa.share`` client -> every other client ``{sk, b}``: Shamir shares (t of n) of its mask secret
   key and its self-mask seed.
2. ``sa.masked`` client -> server ``{vec}``: ``encode([n*w..., n]) + PRG(b) + sum_j +-PRG(s_ij)``
   in Z_2^64 (uint64 LE). The server waits ``collect_timeout``; who sent is the survivor set U.
3. ``sa.unmask`` server -> each survivor ``{survivors, dropped}``; ``sa.reveal`` survivor -> server
   ``{sk: [share per dropped], b: [share per survivor]}``. A client never reveals both kinds of
   share for the same client (that would unmask its input), and refuses a U smaller than t.

The server rebuilds each dropped client's key (checked against its ``pk``) to cancel its pairwise
masks, and each survivor's ``b`` (checked against ``b_commit``) to remove the self masks. It needs
t answers in round 3; t defaults to a majority. Clients silent before round 2 fail the task
(restart it without them).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import numpy as np
from nacl.bindings import crypto_scalarmult_base

from workers.protocols import fixedpoint, masks, shamir
from workers.protocols.channel import Session
from workers.protocols.errors import InvalidInput, MalformedMessage, PeerTimeout, ProtocolError
from workers.protocols.messages import field, packed

SELF_MASK_LABEL = 1  # PRG nonce for the self mask; pairwise masks use 0


@dataclass(frozen=True)
class SecAggConfig:
    threshold: int | None = None   # default: majority of the roster
    frac_bits: int = 20
    collect_timeout: float = 30.0  # how long the server waits for masked inputs and reveals

    def t(self, n: int) -> int:
        t = self.threshold if self.threshold is not None else n // 2 + 1
        if not 2 <= t <= n:
            raise InvalidInput(f"threshold {t} must be in [2, {n}]")
        return t


@dataclass(frozen=True)
class SecAggResult:
    average: np.ndarray       # sum(n_i * w_i) / sum(n_i) over the included clients
    total_samples: float
    included: list[str]
    dropped: list[str]


def _commit(seed: bytes) -> bytes:
    return hashlib.sha512(b"CONSORTIA-SECAGG-B" + seed).digest()[:32]


def _check_roster(clients: list[str]) -> list[str]:
    roster = sorted(clients)
    if len(set(roster)) != len(roster) or len(roster) < 3:
        raise InvalidInput("secure aggregation needs at least 3 distinct clients")
    return roster


def run_client(session: Session, server: str, clients: list[str], weights: np.ndarray, samples: int,
               cfg: SecAggConfig = SecAggConfig()) -> None:
    roster = _check_roster(clients)
    me = session.party
    if me not in roster:
        raise InvalidInput(f"{me!r} is not in the roster")
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or not np.all(np.isfinite(w)) or isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise InvalidInput("weights must be a finite 1-D vector and samples a positive integer")
    t = cfg.t(len(roster))
    peers = [c for c in roster if c != me]
    keys, seeds = masks.exchange_keys(session, peers, "sa.key", 0)
    b = secrets.token_bytes(32)
    session.send(server, "sa.key", 0, {"pk": keys.public, "b_commit": _commit(b)})
    sk_shares, b_shares = shamir.split(keys.secret, t, len(roster)), shamir.split(b, t, len(roster))
    pos = {c: i for i, c in enumerate(roster)}
    for p in peers:
        session.send(p, "sa.share", 1, {"sk": sk_shares[pos[p]], "b": b_shares[pos[p]]})
    held_sk, held_b = {me: sk_shares[pos[me]]}, {me: b_shares[pos[me]]}
    for p in peers:
        body = session.recv(p, "sa.share", 1)
        held_sk[p] = packed(body, "sk", shamir.SHARE_BYTES, count=1)
        held_b[p] = packed(body, "b", shamir.SHARE_BYTES, count=1)
    vector = fixedpoint.encode(np.concatenate([w * samples, [float(samples)]]), cfg.frac_bits, len(roster))
    masked = masks.mask(vector, me, seeds) + masks.prg_u64(b, len(vector), SELF_MASK_LABEL)
    session.send(server, "sa.masked", 2, {"vec": masked.astype("<u8").tobytes()})
    body = session.recv(server, "sa.unmask", 3)
    survivors, dropped = field(body, "survivors", list), field(body, "dropped", list)
    if (sorted(survivors + dropped) != roster or len(set(survivors)) != len(survivors) or me not in survivors
            or len(survivors) < t):
        raise ProtocolError(f"task {session.task!r}: server's survivor list is inconsistent or below the threshold {t}")
    session.send(server, "sa.reveal", 3, {"sk": [held_sk[d] for d in dropped], "b": [held_b[s] for s in survivors]})


def run_server(session: Session, clients: list[str], dim: int, cfg: SecAggConfig = SecAggConfig()) -> SecAggResult:
    roster = _check_roster(clients)
    if dim < 1:
        raise InvalidInput("dim must be positive")
    t = cfg.t(len(roster))
    pk, commit = {}, {}
    for c in roster:
        body = session.recv(c, "sa.key", 0)
        pk[c] = packed(body, "pk", 32, count=1)
        commit[c] = packed(body, "b_commit", 32, count=1)
    length = dim + 1
    received: dict[str, np.ndarray] = {}
    deadline = time.monotonic() + cfg.collect_timeout
    for c in roster:
        try:
            body = session.deadline_recv(c, "sa.masked", 2, deadline)
        except PeerTimeout:
            continue
        received[c] = np.frombuffer(packed(body, "vec", 8, count=length), dtype="<u8").astype(np.uint64)
    survivors = [c for c in roster if c in received]
    dropped = [c for c in roster if c not in received]
    if len(survivors) < t:
        raise ProtocolError(f"task {session.task!r}: only {len(survivors)} masked inputs arrived, threshold is {t}")
    for c in survivors:
        session.send(c, "sa.unmask", 3, {"survivors": survivors, "dropped": dropped})
    pos = {c: i + 1 for i, c in enumerate(roster)}
    sk_shares: dict[str, dict[int, bytes]] = {d: {} for d in dropped}
    b_shares: dict[str, dict[int, bytes]] = {s: {} for s in survivors}
    answered = 0
    deadline = time.monotonic() + cfg.collect_timeout
    for c in survivors:
        try:
            body = session.deadline_recv(c, "sa.reveal", 3, deadline)
        except PeerTimeout:
            continue
        sks, bs = field(body, "sk", list), field(body, "b", list)
        if len(sks) != len(dropped) or len(bs) != len(survivors) or not all(isinstance(x, bytes) for x in sks + bs):
            raise MalformedMessage(f"sa.reveal from {c!r} does not match the survivor list")
        for d, share in zip(dropped, sks):
            sk_shares[d][pos[c]] = share
        for s, share in zip(survivors, bs):
            b_shares[s][pos[c]] = share
        answered += 1
    if answered < t:
        raise ProtocolError(f"task {session.task!r}: only {answered} clients revealed shares, threshold is {t}")
    total = np.zeros(length, dtype=np.uint64)
    for c in survivors:
        total += received[c]
    for s in survivors:
        b = shamir.combine(b_shares[s], t)
        if _commit(b) != commit[s]:
            raise ProtocolError(f"rebuilt self-mask seed of {s!r} does not match its commitment (bad shares)")
        total -= masks.prg_u64(b, length, SELF_MASK_LABEL)
    for d in dropped:
        sk = shamir.combine(sk_shares[d], t)
        if crypto_scalarmult_base(sk) != pk[d]:
            raise ProtocolError(f"rebuilt mask key of {d!r} does not match its public key (bad shares)")
        pair = masks.KeyPair(sk, pk[d])
        for s in survivors:
            m = masks.prg_u64(masks.agree(pair, d, pk[s], s, session.task), length)
            # survivor s added +m if s < d, else -m: take it back out
            if s < d:
                total -= m
            else:
                total += m
    values = fixedpoint.decode(total, cfg.frac_bits)
    samples = float(values[-1])
    if samples <= 0:
        raise ProtocolError("aggregated sample count is not positive")
    return SecAggResult(values[:-1] / samples, samples, survivors, dropped)
