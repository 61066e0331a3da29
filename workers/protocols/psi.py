"""ECDH-PSI on Curve25519 between a client (receives the result) and a server (may cache its side).

Each side hashes its distinct items to the curve (``curve25519.ItemHasher``), blinds them with a
secret X25519 scalar and streams them in batches; the other side blinds them again. Because X25519
commutes, an item both hold ends up as the same double-blinded point on both sides. The client
compares 128-bit tags of the double-blinded points and, when the result goes to both, tells the
server which positions of its (shuffled) stream matched. Semi-honest model: a party that lies about
its own set or the result is out of scope, as in every ECDH-PSI; the doc lists what each party sees.

Rounds (every frame is bound to the task by ``channel.Session``):

0. ``psi.hello`` both ways: ``{n, batch, suite, result_to, lag}``; both must agree on all but ``n``.
1. steps t = 0, 1, ...: the server sends ``psi.set {k: t, points}`` (its blinded, shuffled set) and
   then ``psi.reply {k: t - lag, tags}`` (16-byte prefixes of the double-blinded points of query
   batch t - lag, same order); the client sends ``psi.query {k: t, points}`` (its blinded items).
   So each party blinds the peer's batch ``lag`` steps after its own: neither waits for the other
   unless it falls more than ``lag`` steps behind, and both compute from the first batch to the last.
2. only if ``result_to == "both"``: client -> server ``psi.result {indices}`` (uint32 LE positions
   in the server's stream, strictly increasing).

Each party queues the work for its next own batch before it waits for anything, so its pool always
has a batch to compute (the benchmark's ``*_pool_busy`` figures measure this).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from workers.protocols import curve25519 as c25519
from workers.protocols.channel import Session
from workers.protocols.errors import InvalidInput, MalformedMessage, ProtocolError
from workers.protocols.hashing import SUITES, item_bytes, prehash
from workers.protocols.messages import int_field, packed

TAG = 16  # bytes of a double-blinded point kept for comparison: false match chance n*m/2^128
MAX_ITEMS = 2**31 - 1
MAX_BATCH = 65536
MAX_LAG = 8
DST = b"CONSORTIA-ECDH-PSI-V1-curve25519_XMD:SHA-512_ELL2_NU_"


@dataclass(frozen=True)
class PsiConfig:
    batch: int = 4096
    suite: str = "std"
    result_to: str = "client"  # "client" or "both"
    threads: int = 2
    lag: int = 1  # steps by which each party's processing of the peer's stream trails its own stream

    def __post_init__(self) -> None:
        if not 1 <= self.batch <= MAX_BATCH:
            raise InvalidInput(f"batch must be in [1, {MAX_BATCH}]")
        if self.suite not in SUITES:
            raise InvalidInput(f"suite must be one of {SUITES}")
        if self.result_to not in ("client", "both"):
            raise InvalidInput("result_to must be 'client' or 'both'")
        if not 1 <= self.lag <= MAX_LAG:
            raise InvalidInput(f"lag must be in [1, {MAX_LAG}]")


def distinct(items: Sequence[bytes | str], suite: str) -> tuple[list[bytes | str], list[bytes]]:
    """The distinct items in first-seen order and their encodings: duplicates count once (documented)."""
    if all(type(it) is bytes for it in items):  # the common case, ten times faster: the items are their own bytes
        unique = cast(list[bytes], list(dict.fromkeys(items)))
        if len(unique) > MAX_ITEMS:
            raise InvalidInput(f"more than {MAX_ITEMS} distinct items")
        return cast(list[bytes | str], unique), unique if suite == "std" else [prehash(suite, b) for b in unique]
    seen: dict[bytes, bytes | str] = {}
    for it in items:
        seen.setdefault(item_bytes(it), it)
    if len(seen) > MAX_ITEMS:
        raise InvalidInput(f"more than {MAX_ITEMS} distinct items")
    return list(seen.values()), [prehash(suite, b) for b in seen]


def _check_mul_tags(scalar: bytes, blob: bytes) -> bytes:
    """The TAG-byte prefixes of X25519(scalar, P) for each received point P in ``blob``, each checked first."""
    return b"".join(c25519.check_and_mul(scalar, blob, TAG))


def _hash_mul_join(hasher: c25519.ItemHasher, scalar: bytes, items: Sequence[bytes]) -> bytes:
    return b"".join(c25519.hash_and_mul(hasher, scalar, items))


class _Work:
    """Work handed to the executor in ``parts`` pieces; ``result()`` joins the pieces' bytes in order.

    Without an executor the work runs at once in the caller's thread.
    """

    def __init__(self, executor: Executor | None, parts: int, fn: Callable[..., bytes], head: tuple[Any, ...],
                 seq: Sequence[Any], width: int = 1) -> None:
        if executor is None or len(seq) < 64 * width:
            self._done: bytes | None = fn(*head, seq)
            self._futures: list[Future[bytes]] = []
            return
        step = -(-len(seq) // (parts * width)) * width
        self._done = None
        self._futures = [executor.submit(fn, *head, seq[i:i + step]) for i in range(0, len(seq), step)]

    def result(self) -> bytes:
        if self._done is None:
            self._done = b"".join(f.result() for f in self._futures)
        return self._done


@dataclass
class BlindedSet:
    """The server's hashed, blinded and shuffled set: built once, reused for many clients.

    ``order[j]`` is the index (into the server's distinct items) of the j-th point streamed. The
    points live in ``path`` (32 bytes each) when given, else in memory. Reusing the key lets one
    client link its own repeated queries; build a fresh set when that matters.
    """

    key: bytes
    suite: str
    order: np.ndarray
    path: Path | None = None
    data: bytearray = field(default_factory=bytearray)

    @property
    def size(self) -> int:
        return len(self.order)

    @classmethod
    def build(cls, encoded: Sequence[bytes], suite: str, executor: Executor | None = None, batch: int = 4096,
              path: Path | None = None, parts: int = 2) -> BlindedSet:
        key = secrets.token_bytes(32)
        order = np.random.default_rng(secrets.randbits(128)).permutation(len(encoded)).astype(np.int64)
        hasher = c25519.ItemHasher(DST)
        out = cls(key, suite, order, path)
        sink = open(path, "wb") if path is not None else None
        try:
            for start in range(0, len(order), batch):
                chunk = [encoded[int(i)] for i in order[start:start + batch]]
                blob = b"".join(c25519.hash_and_mul_batch(hasher, key, chunk, executor, parts))
                if sink is not None:
                    sink.write(blob)
                else:
                    out.data += blob
        finally:
            if sink is not None:
                sink.close()
        return out

    def batches(self, batch: int) -> Iterator[bytes]:
        width = c25519.POINT_BYTES
        if self.path is None:
            for start in range(0, len(self.data), batch * width):
                yield bytes(self.data[start:start + batch * width])
            return
        with open(self.path, "rb") as f:
            while blob := f.read(batch * width):
                yield blob


def _batches(n: int, batch: int) -> int:
    return -(-n // batch)


def _hello(session: Session, peer: str, n: int, cfg: PsiConfig) -> int:
    mine = {"batch": cfg.batch, "suite": cfg.suite, "result_to": cfg.result_to, "lag": cfg.lag}
    session.send(peer, "psi.hello", 0, {"n": n, **mine})
    body = session.recv(peer, "psi.hello", 0)
    peer_n = int_field(body, "n", 0, MAX_ITEMS)
    for name, value in mine.items():
        if body.get(name) != value or isinstance(body.get(name), bool):
            raise ProtocolError(f"task {session.task!r}: {peer!r} runs PSI with {name}={body.get(name)!r}, we use {value!r}")
    return peer_n


def _executor(cfg: PsiConfig) -> ThreadPoolExecutor | None:
    return ThreadPoolExecutor(cfg.threads, thread_name_prefix="psi") if cfg.threads > 1 else None


class _OwnBatches:
    """Hashes and blinds one's own items batch by batch, always one batch ahead of the one being sent."""

    def __init__(self, encoded: Sequence[bytes], order: np.ndarray, key: bytes, cfg: PsiConfig,
                 executor: Executor | None) -> None:
        self.encoded, self.order, self.key, self.cfg, self.executor = encoded, order, key, cfg, executor
        self.hasher = c25519.ItemHasher(DST)
        self.count = _batches(len(order), cfg.batch)
        self._next = self._start(0)

    def _start(self, k: int) -> _Work | None:
        if k >= self.count:
            return None
        chunk = [self.encoded[i] for i in self.order[k * self.cfg.batch:(k + 1) * self.cfg.batch].tolist()]
        return _Work(self.executor, self.cfg.threads, _hash_mul_join, (self.hasher, self.key), chunk)

    def take(self, k: int) -> bytes:
        """Batch ``k`` (which must be the next one), after queueing the work for batch ``k + 1``."""
        work = self._next
        assert work is not None
        blob = work.result()
        self._next = self._start(k + 1)
        return blob


@dataclass
class _CachedBatches:
    """A ``BlindedSet``'s stored batches, taken in order like ``_OwnBatches``."""

    stream: Iterator[bytes]

    def take(self, k: int) -> bytes:
        return next(self.stream)


def _peer_points(session: Session, peer: str, kind: str, k: int, count: int) -> bytes:
    body = session.recv(peer, kind, 1)
    _expect_k(body, k)
    return packed(body, "points", c25519.POINT_BYTES, count=count)


def _count(n: int, batch: int, k: int) -> int:
    return min(batch, n - k * batch)


def run_client(session: Session, server: str, items: Sequence[bytes | str], cfg: PsiConfig = PsiConfig(),
               executor: Executor | None = None) -> list[bytes | str]:
    """The client's role: returns its items (distinct, first-seen order) that the server also holds.

    ``executor`` (optional) runs the hashing and scalar multiplications; by default a pool of
    ``cfg.threads``. Step ``t`` (see the module doc) receives set batch ``t - lag`` and reply
    ``t - 2 lag``, so neither party waits for the other unless it is more than ``lag`` steps behind.
    """
    mine, encoded = distinct(items, cfg.suite)
    key = secrets.token_bytes(32)
    order = np.random.default_rng(secrets.randbits(128)).permutation(len(mine))
    reply_tags = bytearray()  # tags of double-blinded client items, in 'order'
    set_tags = bytearray()    # tags of double-blinded server items, in the server's stream order
    own = executor is None
    executor = _executor(cfg) if own else executor
    try:
        queries = _OwnBatches(encoded, order, key, cfg, executor)  # starts the first batch before the hello
        n_s = _hello(session, server, len(mine), cfg)
        nb_c, nb_s, lag = _batches(len(mine), cfg.batch), _batches(n_s, cfg.batch), cfg.lag
        pending: list[_Work] = []
        for t in range(max(nb_c + 2 * lag, nb_s + lag)):
            if 0 <= t - lag < nb_s:
                pts = _peer_points(session, server, "psi.set", t - lag, _count(n_s, cfg.batch, t - lag))
                pending.append(_Work(executor, cfg.threads, _check_mul_tags, (key,), pts, c25519.POINT_BYTES))
            if t < nb_c:
                session.send(server, "psi.query", 1, {"k": t, "points": queries.take(t)})
            if 0 <= t - 2 * lag < nb_c:
                body = session.recv(server, "psi.reply", 1)
                _expect_k(body, t - 2 * lag)
                reply_tags += packed(body, "tags", TAG, count=_count(len(mine), cfg.batch, t - 2 * lag))
            while len(pending) > 1:  # the newest may still be computing: collect it next step
                set_tags += pending.pop(0).result()
        for work in pending:
            set_tags += work.result()
    finally:
        if own and executor is not None:
            executor.shutdown(cancel_futures=True)  # after an error, drop the batches queued ahead
    in_c, in_s = match_tags(bytes(reply_tags), bytes(set_tags))
    if cfg.result_to == "both":
        session.send(server, "psi.result", 2, {"indices": in_s.astype("<u4").tobytes()})
    return [mine[i] for i in np.sort(order[in_c]).tolist()]


def run_server(session: Session, client: str, items: Sequence[bytes | str], cfg: PsiConfig = PsiConfig(),
               cache: BlindedSet | None = None, executor: Executor | None = None) -> list[bytes | str] | None:
    """The server's role: returns the intersection (distinct, first-seen order) if ``result_to == "both"``.

    Step ``t`` sends set batch ``t`` and answers query batch ``t - lag``.
    """
    mine, encoded = distinct(items, cfg.suite)
    if cache is not None and (cache.size != len(mine) or cache.suite != cfg.suite):
        raise InvalidInput("the cached blinded set was built from other items or another suite")
    own = executor is None
    executor = _executor(cfg) if own else executor
    try:
        key = cache.key if cache is not None else secrets.token_bytes(32)
        order = cache.order if cache is not None else \
            np.random.default_rng(secrets.randbits(128)).permutation(len(mine)).astype(np.int64)
        sets: _OwnBatches | _CachedBatches = _CachedBatches(cache.batches(cfg.batch)) if cache is not None else \
            _OwnBatches(encoded, order, key, cfg, executor)  # starts the first batch before the hello
        n_c = _hello(session, client, len(mine), cfg)
        nb_c, nb_s, lag = _batches(n_c, cfg.batch), _batches(len(mine), cfg.batch), cfg.lag
        for t in range(max(nb_s, nb_c + lag)):
            reply = None
            if 0 <= t - lag < nb_c:
                pts = _peer_points(session, client, "psi.query", t - lag, _count(n_c, cfg.batch, t - lag))
                reply = _Work(executor, cfg.threads, _check_mul_tags, (key,), pts, c25519.POINT_BYTES)
            if t < nb_s:
                session.send(client, "psi.set", 1, {"k": t, "points": sets.take(t)})
            if reply is not None:
                session.send(client, "psi.reply", 1, {"k": t - lag, "tags": reply.result()})
    finally:
        if own and executor is not None:
            executor.shutdown(cancel_futures=True)  # after an error, drop the batches queued ahead
    if cfg.result_to != "both":
        return None
    body = session.recv(client, "psi.result", 2)
    raw = packed(body, "indices", 4, max_count=len(mine))
    idx = np.frombuffer(raw, dtype="<u4").astype(np.int64)
    if len(idx) and (idx[-1] >= len(mine) or np.any(np.diff(idx) <= 0)):
        raise MalformedMessage("psi.result indices must be strictly increasing positions of the server's stream")
    return [mine[i] for i in np.sort(order[idx]).tolist()]


def _expect_k(body: dict[str, Any], k: int) -> None:
    got = int_field(body, "k", 0, MAX_ITEMS)
    if got != k:
        raise MalformedMessage(f"batch {got} arrived where batch {k} was due")


def match_tags(a: bytes, b: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Positions (ascending) in ``a`` and in ``b`` of 16-byte tags that occur in the other.

    Vectorised sort-merge on the first 8 bytes of each tag, then the last 8 bytes settle each pair.
    That pairing is exact when the first 8 bytes are distinct within each side, which fails only by
    a 2^-64-rare collision or a peer's duplicate tags; then exact sets over the bytes decide.
    """
    av = np.frombuffer(a, dtype="<u8").reshape(-1, 2)
    bv = np.frombuffer(b, dtype="<u8").reshape(-1, 2)
    oa, ob = np.argsort(av[:, 0]), np.argsort(bv[:, 0])
    sa, sb = av[oa, 0], bv[ob, 0]
    if np.any(sa[1:] == sa[:-1]) or np.any(sb[1:] == sb[:-1]):
        b_set = {b[j:j + TAG] for j in range(0, len(b), TAG)}
        a_set = {a[i:i + TAG] for i in range(0, len(a), TAG)}
        in_a = [i // TAG for i in range(0, len(a), TAG) if a[i:i + TAG] in b_set]
        in_b = [j // TAG for j in range(0, len(b), TAG) if b[j:j + TAG] in a_set]
        return np.asarray(in_a, dtype=np.int64), np.asarray(in_b, dtype=np.int64)
    if len(sb) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pos = np.minimum(np.searchsorted(sb, sa), len(sb) - 1)
    pa, pb = oa, ob[pos]
    same = (sb[pos] == sa) & (av[pa, 1] == bv[pb, 1])
    return np.sort(pa[same]), np.sort(pb[same])
