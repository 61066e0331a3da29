"""ECDH-PSI on Curve25519 between a client (receives the result) and a server (may cache its side).

Each side hashes its distinct items to the curve (``curve25519.ItemHasher``), blinds them with a
secret X25519 scalar and streams them in batches; the other side blinds them again. Because X25519
commutes, an item both hold ends up as the same double-blinded point on both sides. The client
compares 128-bit tags of the double-blinded points and, when the result goes to both, tells the
server which positions of its (shuffled) stream matched. Semi-honest model: a party that lies about
its own set or the result is out of scope, as in every ECDH-PSI; the doc lists what each party sees.

Rounds (every frame is bound to the task by ``channel.Session``):

0. ``psi.hello`` both ways: ``{n, batch, suite, result_to}``; both must agree on batch/suite/result_to.
1. per batch k, interleaved: server -> client ``psi.set {k, points}`` (its blinded, shuffled set);
   client -> server ``psi.query {k, points}`` (client's blinded items); server -> client
   ``psi.reply {k, tags}`` (16-byte prefixes of the double-blinded query points, same order).
2. only if ``result_to == "both"``: client -> server ``psi.result {indices}`` (uint32 LE positions
   in the server's stream, strictly increasing).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from nacl.bindings import crypto_scalarmult

from workers.protocols import curve25519 as c25519
from workers.protocols.channel import Session
from workers.protocols.errors import InvalidInput, InvalidPoint, MalformedMessage, ProtocolError
from workers.protocols.hashing import SUITES, item_bytes, prehash
from workers.protocols.messages import int_field, packed, split

T = TypeVar("T")
TAG = 16  # bytes of a double-blinded point kept for comparison: false match chance n*m/2^128
MAX_ITEMS = 2**31 - 1
MAX_BATCH = 65536
DST = b"CONSORTIA-ECDH-PSI-V1-curve25519_XMD:SHA-512_ELL2_NU_"


@dataclass(frozen=True)
class PsiConfig:
    batch: int = 4096
    suite: str = "std"
    result_to: str = "client"  # "client" or "both"
    threads: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.batch <= MAX_BATCH:
            raise InvalidInput(f"batch must be in [1, {MAX_BATCH}]")
        if self.suite not in SUITES:
            raise InvalidInput(f"suite must be one of {SUITES}")
        if self.result_to not in ("client", "both"):
            raise InvalidInput("result_to must be 'client' or 'both'")


def distinct(items: Sequence[bytes | str], suite: str) -> tuple[list[bytes | str], list[bytes]]:
    """The distinct items in first-seen order and their encodings: duplicates count once (documented)."""
    seen: dict[bytes, bytes | str] = {}
    for it in items:
        seen.setdefault(item_bytes(it), it)
    if len(seen) > MAX_ITEMS:
        raise InvalidInput(f"more than {MAX_ITEMS} distinct items")
    return list(seen.values()), [prehash(suite, b) for b in seen]


def _check_mul(scalar: bytes, points: Sequence[bytes]) -> list[bytes]:
    out = []
    for p in points:
        c25519.check_point(p)
        try:
            out.append(crypto_scalarmult(scalar, p))
        except RuntimeError:  # libsodium refuses an all-zero result (unreachable after check_point)
            raise InvalidPoint("point of small order (X25519 result is zero)") from None
    return out


def _check_mul_tags(scalar: bytes, points: Sequence[bytes]) -> bytes:
    return b"".join(q[:TAG] for q in _check_mul(scalar, points))


def _split(executor: Executor | None, parts: int, fn: Callable[[bytes, Sequence[bytes]], T], scalar: bytes,
           seq: Sequence[bytes]) -> list[T]:
    if executor is None or len(seq) < 64:
        return [fn(scalar, seq)]
    step = -(-len(seq) // parts)
    return [f.result() for f in [executor.submit(fn, scalar, seq[i:i + step]) for i in range(0, len(seq), step)]]


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
    session.send(peer, "psi.hello", 0, {"n": n, "batch": cfg.batch, "suite": cfg.suite, "result_to": cfg.result_to})
    body = session.recv(peer, "psi.hello", 0)
    peer_n = int_field(body, "n", 0, MAX_ITEMS)
    for name, mine in (("batch", cfg.batch), ("suite", cfg.suite), ("result_to", cfg.result_to)):
        if body.get(name) != mine:
            raise ProtocolError(f"task {session.task!r}: {peer!r} runs PSI with {name}={body.get(name)!r}, we use {mine!r}")
    return peer_n


def _executor(cfg: PsiConfig) -> ThreadPoolExecutor | None:
    return ThreadPoolExecutor(cfg.threads, thread_name_prefix="psi") if cfg.threads > 1 else None


def run_client(session: Session, server: str, items: Sequence[bytes | str], cfg: PsiConfig = PsiConfig(),
               executor: Executor | None = None) -> list[bytes | str]:
    """The client's role: returns its items (distinct, first-seen order) that the server also holds.

    ``executor`` (optional) runs the scalar multiplications; by default a pool of ``cfg.threads``.
    """
    mine, encoded = distinct(items, cfg.suite)
    n_s = _hello(session, server, len(mine), cfg)
    key = secrets.token_bytes(32)
    hasher = c25519.ItemHasher(DST)
    order = np.random.default_rng(secrets.randbits(128)).permutation(len(mine))
    reply_tags = bytearray()  # tags of double-blinded client items, in 'order'
    set_tags = bytearray()    # tags of double-blinded server items, in the server's stream order
    nb_c, nb_s = _batches(len(mine), cfg.batch), _batches(n_s, cfg.batch)
    own = executor is None
    executor = _executor(cfg) if own else executor
    try:
        for k in range(max(nb_c, nb_s)):
            if k < nb_c:
                chunk = [encoded[int(i)] for i in order[k * cfg.batch:(k + 1) * cfg.batch]]
                points = c25519.hash_and_mul_batch(hasher, key, chunk, executor, cfg.threads)
                session.send(server, "psi.query", 1, {"k": k, "points": b"".join(points)})
            if k < nb_s:
                body = session.recv(server, "psi.set", 1)
                _expect_k(body, k)
                want = min(cfg.batch, n_s - k * cfg.batch)
                pts = packed(body, "points", c25519.POINT_BYTES, count=want)
                for part in _split(executor, cfg.threads, _check_mul_tags, key, split(pts, c25519.POINT_BYTES)):
                    set_tags += part
            if k < nb_c:
                body = session.recv(server, "psi.reply", 1)
                _expect_k(body, k)
                reply_tags += packed(body, "tags", TAG, count=min(cfg.batch, len(mine) - k * cfg.batch))
    finally:
        if own and executor is not None:
            executor.shutdown()
    in_c, in_s = match_tags(bytes(reply_tags), bytes(set_tags))
    if cfg.result_to == "both":
        session.send(server, "psi.result", 2, {"indices": np.asarray(in_s, dtype="<u4").tobytes()})
    hits = sorted(int(order[i]) for i in in_c)
    return [mine[i] for i in hits]


def run_server(session: Session, client: str, items: Sequence[bytes | str], cfg: PsiConfig = PsiConfig(),
               cache: BlindedSet | None = None, executor: Executor | None = None) -> list[bytes | str] | None:
    """The server's role: returns the intersection (distinct, first-seen order) if ``result_to == "both"``."""
    mine, encoded = distinct(items, cfg.suite)
    if cache is not None and (cache.size != len(mine) or cache.suite != cfg.suite):
        raise InvalidInput("the cached blinded set was built from other items or another suite")
    n_c = _hello(session, client, len(mine), cfg)
    own = executor is None
    executor = _executor(cfg) if own else executor
    try:
        nb_c, nb_s = _batches(n_c, cfg.batch), _batches(len(mine), cfg.batch)
        stream = cache.batches(cfg.batch) if cache is not None else None
        key = cache.key if cache is not None else secrets.token_bytes(32)
        order = cache.order if cache is not None else \
            np.random.default_rng(secrets.randbits(128)).permutation(len(mine)).astype(np.int64)
        hasher = c25519.ItemHasher(DST)
        for k in range(max(nb_c, nb_s)):
            if k < nb_s:
                if stream is not None:
                    blob = next(stream)
                else:
                    chunk = [encoded[int(i)] for i in order[k * cfg.batch:(k + 1) * cfg.batch]]
                    blob = b"".join(c25519.hash_and_mul_batch(hasher, key, chunk, executor, cfg.threads))
                session.send(client, "psi.set", 1, {"k": k, "points": blob})
            if k < nb_c:
                body = session.recv(client, "psi.query", 1)
                _expect_k(body, k)
                pts = packed(body, "points", c25519.POINT_BYTES, count=min(cfg.batch, n_c - k * cfg.batch))
                tags = b"".join(_split(executor, cfg.threads, _check_mul_tags, key, split(pts, c25519.POINT_BYTES)))
                session.send(client, "psi.reply", 1, {"k": k, "tags": tags})
    finally:
        if own and executor is not None:
            executor.shutdown()
    if cfg.result_to != "both":
        return None
    body = session.recv(client, "psi.result", 2)
    raw = packed(body, "indices", 4, max_count=len(mine))
    idx = np.frombuffer(raw, dtype="<u4").astype(np.int64)
    if len(idx) and (idx[-1] >= len(mine) or np.any(np.diff(idx) <= 0)):
        raise MalformedMessage("psi.result indices must be strictly increasing positions of the server's stream")
    return [mine[i] for i in sorted(int(order[j]) for j in idx)]


def _expect_k(body: dict[str, Any], k: int) -> None:
    got = int_field(body, "k", 0, MAX_ITEMS)
    if got != k:
        raise MalformedMessage(f"batch {got} arrived where batch {k} was due")


def match_tags(a: bytes, b: bytes) -> tuple[list[int], list[int]]:
    """Positions in ``a`` and in ``b`` of 16-byte tags present in both (each side's tags are distinct).

    A numpy pre-filter on the first 8 bytes, then an exact check of the 16 bytes on the candidates.
    """
    a64 = np.frombuffer(a, dtype="<u8")[0::2]
    b64 = np.frombuffer(b, dtype="<u8")[0::2]
    ca = np.nonzero(np.isin(a64, b64))[0]
    cb = np.nonzero(np.isin(b64, a64))[0]
    b_full = {b[j * TAG:(j + 1) * TAG]: int(j) for j in cb}
    a_full = {a[i * TAG:(i + 1) * TAG] for i in ca}
    in_a = [int(i) for i in ca if a[i * TAG:(i + 1) * TAG] in b_full]
    in_b = sorted(j for t, j in b_full.items() if t in a_full)
    return in_a, in_b
