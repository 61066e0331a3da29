"""Pairwise masks that cancel in a sum: X25519-agreed seeds expanded by AES-256-CTR into Z_2^64 vectors.

Party i adds ``PRG(s_ij)`` for every j after it (by name order) and subtracts it for every j before
it, so the masks cancel exactly in the sum over all parties, while each single masked vector is
uniformly random to anyone missing one of its seeds. Seeds are ``SHA-512(DST || task || a || b ||
X25519(sk_a, pk_b))[:32]`` for the name-ordered pair (a, b); the public keys travel over the
authenticated channel, so they cannot be swapped by a third party. A ``label`` separates
independent vectors under the same seed (one nonce each).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base

from workers.protocols import curve25519
from workers.protocols.channel import Session
from workers.protocols.messages import packed

DST = b"CONSORTIA-PAIRWISE-MASK-V1"


@dataclass(frozen=True)
class KeyPair:
    secret: bytes
    public: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        sk = secrets.token_bytes(32)
        return cls(sk, crypto_scalarmult_base(sk))


def agree(me: KeyPair, my_name: str, peer_public: bytes, peer_name: str, task: str) -> bytes:
    """The seed two parties share; the peer's key is checked (canonical, on curve, not small order)."""
    curve25519.check_point(peer_public)
    shared = crypto_scalarmult(me.secret, peer_public)
    a, b = sorted((my_name, peer_name))
    parts = [DST, task.encode(), a.encode(), b.encode()]
    return hashlib.sha512(b"".join(len(p).to_bytes(2, "big") + p for p in parts) + shared).digest()[:32]


def prg_u64(seed: bytes, n: int, label: int = 0) -> np.ndarray:
    """``n`` uniform uint64 values from ``seed``: AES-256-CTR keystream.

    The label fills the upper 64 bits of the initial counter block and the block counter the lower
    64, so the keystreams of different labels never overlap (a label as the whole initial block
    would make label 1's stream label 0's shifted by one block).
    """
    if not 0 <= label < 2**64:
        raise ValueError("label must fit in 64 bits")
    enc = Cipher(algorithms.AES(seed), modes.CTR(label.to_bytes(8, "big") + bytes(8))).encryptor()
    return np.frombuffer(enc.update(bytes(8 * n)), dtype="<u8").astype(np.uint64, copy=False)


def mask(vector: np.ndarray, me: str, seeds: dict[str, bytes], label: int = 0) -> np.ndarray:
    """``vector`` (uint64) plus the cancelling masks of ``me`` with every peer in ``seeds``."""
    out = vector.astype(np.uint64, copy=True)
    for peer, seed in seeds.items():
        m = prg_u64(seed, len(out), label)
        if me < peer:
            out += m
        else:
            out -= m
    return out


def exchange_keys(session: Session, peers: list[str], kind: str, round: int) -> tuple[KeyPair, dict[str, bytes]]:
    """Send a fresh public key to every peer, receive theirs, return the agreed seeds by peer."""
    mine = KeyPair.generate()
    for p in peers:
        session.send(p, kind, round, {"pk": mine.public})
    seeds = {}
    for p in peers:
        pk = packed(session.recv(p, kind, round), "pk", 32, count=1)
        seeds[p] = agree(mine, session.party, pk, p, session.task)
    return mine, seeds
