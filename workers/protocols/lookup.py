"""Anonymous lookup (unbalanced PSI) by an OPRF over ristretto255: a holder's large list, small queries.

The holder keeps an OPRF key ``k`` and precomputes, once, for each listed key ``x``:
``F(x) = k * H(x)`` with ``H`` = ristretto255 ``from_hash`` of SHA-512 (a random oracle into the
prime-order group), then ``d = SHA-512(DST_OUT || len(x) || x || F(x))``: ``d[:16]`` is the entry's
tag and ``d[16:48]`` the key that seals its optional payload (XChaCha20-Poly1305). The querier
downloads the tags and sealed payloads once, shuffled and sorted by tag. A query blinds ``H(x)`` with
a fresh random scalar ``r``, the holder multiplies by ``k`` and returns it, and the querier unblinds
with ``r^-1`` to get ``F(x)`` and looks the tag up locally: one round trip and three point operations.

The holder sees only ``r * H(x)``, a uniformly random group element whatever ``x`` is; the querier
can compute tags only for keys it asks the holder about, so it learns membership (and payloads)
for its own keys and the list's size. The holder counts queries; a limit per task is the way to
stop a querier from enumerating a small key space (documented in docs/privacy-protocols.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import rbcl
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt, crypto_aead_xchacha20poly1305_ietf_encrypt

from workers.protocols.channel import Session
from workers.protocols.errors import InvalidInput, InvalidPoint, MalformedMessage, ProtocolError
from workers.protocols.hashing import SUITES, item_bytes, prehash
from workers.protocols.messages import field as body_field
from workers.protocols.messages import int_field, packed, split

POINT = 32
TAG = 16
DST_H = b"CONSORTIA-OPRF-V1-ristretto255-H"
DST_OUT = b"CONSORTIA-OPRF-V1-ristretto255-OUT"
MAX_QUERY_KEYS = 1024
MAX_PAYLOAD = 1 << 16
_NONCE = bytes(24)  # each sealing key is used for exactly one payload


def hash_to_group(encoded: bytes) -> bytes:
    return rbcl.crypto_core_ristretto255_from_hash(hashlib.sha512(DST_H + encoded).digest())


def _derive(encoded: bytes, evaluated: bytes) -> tuple[bytes, bytes]:
    d = hashlib.sha512(DST_OUT + len(encoded).to_bytes(4, "big") + encoded + evaluated).digest()
    return d[:TAG], d[TAG:TAG + 32]


def check_ristretto(point: bytes) -> None:
    if len(point) != POINT or not rbcl.crypto_core_ristretto255_is_valid_point(point):
        raise InvalidPoint("not a canonical ristretto255 encoding of a group element other than the identity")


def _mul(scalar: bytes, point: bytes) -> bytes:
    try:
        return rbcl.crypto_scalarmult_ristretto255(scalar, point)
    except RuntimeError:
        raise InvalidPoint("scalar multiplication gave the identity") from None


@dataclass
class LookupTable:
    """What the holder publishes to queriers: tag -> sealed payload (b"" when the list has no payloads)."""

    entries: dict[bytes, bytes] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)


def _precompute_chunk(key: bytes, items: Sequence[tuple[bytes, bytes | None]]) -> list[tuple[bytes, bytes]]:
    out = []
    for encoded, payload in items:
        tag, seal = _derive(encoded, _mul(key, hash_to_group(encoded)))
        ct = b"" if payload is None else crypto_aead_xchacha20poly1305_ietf_encrypt(payload, tag, _NONCE, seal)
        out.append((tag, ct))
    return out


class LookupHolder:
    """Holds the list and the OPRF key; precomputes the table once and answers blinded queries."""

    def __init__(self, entries: Sequence[bytes | str] | Mapping[bytes | str, bytes | None], suite: str = "std",
                 key: bytes | None = None) -> None:
        if suite not in SUITES:
            raise InvalidInput(f"suite must be one of {SUITES}")
        self.suite = suite
        self.key = key if key is not None else rbcl.crypto_core_ristretto255_scalar_random()
        pairs = entries.items() if isinstance(entries, Mapping) else ((e, None) for e in entries)
        merged: dict[bytes, bytes | None] = {}
        for k, payload in pairs:
            if payload is not None and (not isinstance(payload, bytes) or len(payload) > MAX_PAYLOAD):
                raise InvalidInput(f"payloads must be bytes of at most {MAX_PAYLOAD} bytes")
            merged[prehash(suite, item_bytes(k))] = payload  # a repeated key keeps its last payload
        self._items = list(merged.items())
        self.table: LookupTable | None = None
        self.queries_answered = 0

    def precompute(self, executor: Executor | None = None, parts: int = 2) -> LookupTable:
        items = self._items
        if executor is None or len(items) < 256:
            rows = _precompute_chunk(self.key, items)
        else:
            step = -(-len(items) // parts)
            futures = [executor.submit(_precompute_chunk, self.key, items[i:i + step]) for i in range(0, len(items), step)]
            rows = [r for f in futures for r in f.result()]
        self.table = LookupTable(dict(sorted(rows)))
        return self.table

    def send_table(self, session: Session, querier: str, batch: int = 65536) -> None:
        """Round 1: ``lookup.table {n, k, tags, cts}`` batches, sorted by tag (which hides list order)."""
        table = self.table or self.precompute()
        rows = list(table.entries.items())
        nb = max(1, -(-len(rows) // batch))
        for k in range(nb):
            part = rows[k * batch:(k + 1) * batch]
            session.send(querier, "lookup.table", 1, {"n": len(rows), "k": k, "tags": b"".join(t for t, _ in part),
                                                       "cts": [c for _, c in part]})

    def serve(self, session: Session, querier: str, max_queries: int | None = None) -> int:
        """Answer ``lookup.query`` rounds (2, 3, ...) until ``lookup.done``; returns how many keys were answered."""
        rnd = 2
        while True:
            body = session.recv(querier, "lookup.query", rnd)
            if body.get("done") is True:
                return self.queries_answered
            blinded = split(packed(body, "points", POINT, max_count=MAX_QUERY_KEYS), POINT)
            if not blinded:
                raise MalformedMessage("lookup.query without points")
            if max_queries is not None and self.queries_answered + len(blinded) > max_queries:
                raise ProtocolError(f"task {session.task!r}: {querier!r} exceeded its {max_queries} lookups")
            for p in blinded:
                check_ristretto(p)
            evaluated = b"".join(_mul(self.key, p) for p in blinded)
            self.queries_answered += len(blinded)
            session.send(querier, "lookup.answer", rnd, {"points": evaluated})
            rnd += 1


@dataclass(frozen=True)
class LookupResult:
    found: bool
    payload: bytes | None


class LookupQuerier:
    """Downloads the holder's table once, then looks keys up one round trip per ``query`` call."""

    def __init__(self, session: Session, holder: str, suite: str = "std",
                 hasher: Callable[[bytes], bytes] = hash_to_group,
                 random_scalar: Callable[[], bytes] = rbcl.crypto_core_ristretto255_scalar_random) -> None:
        if suite not in SUITES:
            raise InvalidInput(f"suite must be one of {SUITES}")
        self.session, self.holder, self.suite = session, holder, suite
        self.hasher, self.random_scalar = hasher, random_scalar
        self.table = LookupTable()
        self.round = 2

    def receive_table(self) -> int:
        k = 0
        total = None
        while True:
            body = self.session.recv(self.holder, "lookup.table", 1)
            n = int_field(body, "n", 0, 2**32)
            if int_field(body, "k", 0, 2**32) != k or (total is not None and n != total):
                raise MalformedMessage("lookup.table batches out of order or inconsistent")
            total = n
            tags = split(packed(body, "tags", TAG), TAG)
            if not tags and total:
                raise MalformedMessage("lookup.table batch without tags before the table is complete")
            cts = body_field(body, "cts", list)
            if len(cts) != len(tags) or not all(isinstance(c, bytes) and len(c) <= MAX_PAYLOAD + 16 for c in cts):
                raise MalformedMessage("lookup.table needs one sealed payload (bytes) per tag")
            self.table.entries.update(zip(tags, cts))
            k += 1
            if len(self.table) >= total:
                if len(self.table) != total:
                    raise MalformedMessage("lookup.table sent more or repeated tags")
                return total

    def query(self, keys: Sequence[bytes | str]) -> dict[bytes | str, LookupResult]:
        if not 1 <= len(keys) <= MAX_QUERY_KEYS:
            raise InvalidInput(f"a query holds 1..{MAX_QUERY_KEYS} keys")
        encoded = [prehash(self.suite, item_bytes(k)) for k in keys]
        blinds = [self.random_scalar() for _ in keys]
        blinded = [_mul(r, self.hasher(e)) for r, e in zip(blinds, encoded)]
        self.session.send(self.holder, "lookup.query", self.round, {"points": b"".join(blinded)})
        body = self.session.recv(self.holder, "lookup.answer", self.round)
        self.round += 1
        answers = split(packed(body, "points", POINT, count=len(keys)), POINT)
        out: dict[bytes | str, LookupResult] = {}
        for key, e, r, a in zip(keys, encoded, blinds, answers):
            check_ristretto(a)
            tag, seal = _derive(e, _mul(rbcl.crypto_core_ristretto255_scalar_invert(r), a))
            ct = self.table.entries.get(tag)
            if ct is None:
                out[key] = LookupResult(False, None)
            elif ct == b"":
                out[key] = LookupResult(True, None)
            else:
                try:
                    out[key] = LookupResult(True, crypto_aead_xchacha20poly1305_ietf_decrypt(ct, tag, _NONCE, seal))
                except Exception:
                    raise ProtocolError("a payload in the holder's table does not open under its key (tampered table)") from None
        return out

    def close(self) -> None:
        self.session.send(self.holder, "lookup.query", self.round, {"done": True})

