"""Vertical logistic regression: one label holder, one or more feature holders, rows aligned by PSI.

The label holder L owns the labels y (and maybe features X_L), the Paillier key, and the intercept;
each feature holder F_k owns columns X_k and its part theta_k of the model. Per iteration:

1. ``vlr.score`` F_k -> L: ``u_k = X_k theta_k`` in fixed point (2^16), as uint64 LE. With two or
   more feature holders each u_k carries pairwise masks (``masks``) so L learns only sum_k u_k.
2. L computes ``p = sigmoid(X_L theta_L + sum_k u_k)`` and the loss; if converged (or out of
   iterations) it sends ``vlr.residual {stop: true}``, else ``{stop: false, c: [Enc(d_i)]}`` with
   ``d = p - y`` in fixed point (2^16), encrypted under its key with pooled noise.
3. ``vlr.grad`` F_k -> L: ``{c: [Enc(G_j + r_j)]}`` where ``G_j = sum_i round(x_ij 2^12) d_i`` is
   computed homomorphically and ``r_j`` is a fresh mask 40 bits longer than any |G_j|, re-randomised
   with F_k's own noise.
4. ``vlr.masked {v: [G_j + r_j]}`` L -> F_k; F_k removes r_j and updates theta_k.

L learns the model's outputs p (and sum_k u_k, which p implies) and values masked by r_j; F_k sees
only ciphertexts and its own gradient. Features must be finite and below 256 in magnitude
(standardise them first); labels 0 or 1. Round 0 carries ``vlr.key {n, hs, rows, max_iter,
learning_rate, l2}`` (a feature holder refuses settings other than its own) and, between
feature holders, ``vlr.mkey`` for the score masks.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import gmpy2
import numpy as np
from gmpy2 import mpz

from workers.protocols import fixedpoint, masks, paillier
from workers.protocols.channel import Session
from workers.protocols.errors import InvalidInput, MalformedMessage, ProtocolError
from workers.protocols.messages import field as body_field
from workers.protocols.messages import packed

FX = 12          # fractional bits of features inside the homomorphic product
FD = 16          # fractional bits of residuals
FU = 16          # fractional bits of partial scores
MAX_ABS_X = 256  # features must satisfy |x| < 256 (so exponents stay below 2^20)
SIGMA = 40       # statistical hiding of gradient masks, in bits


@dataclass(frozen=True)
class VlrConfig:
    learning_rate: float = 1.0
    l2: float = 0.0
    max_iter: int = 100
    tol: float = 1e-5        # stop when the loss improves by less than this
    key_bits: int = 2048
    min_key_bits: int = 2048  # what a feature holder accepts (tests lower both)
    fit_intercept: bool = True


@dataclass
class LabelResult:
    theta: np.ndarray          # label holder's coefficients (intercept first when fit_intercept)
    probabilities: np.ndarray  # model output on the training rows
    losses: list[float] = field(default_factory=list)
    iterations: int = 0
    converged: bool = False


def aligned_rows(ids: Sequence[bytes | str], intersection: Sequence[bytes | str]) -> np.ndarray:
    """Row indices of ``ids`` in the agreed order of the PSI result (sorted), one per common id."""
    pos: dict[bytes | str, int] = {}
    for i, v in enumerate(ids):
        pos.setdefault(v, i)
    return np.array([pos[v] for v in sorted(intersection, key=lambda v: v.encode() if isinstance(v, str) else v)],
                    dtype=np.int64)


def _check_features(x: np.ndarray, rows: int | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidInput("features must be a 2-D array (rows x columns)")
    if not np.all(np.isfinite(x)):
        raise InvalidInput("features contain NaN or infinity")
    if x.size and float(np.max(np.abs(x))) >= MAX_ABS_X:
        raise InvalidInput(f"feature values must be below {MAX_ABS_X} in magnitude: standardise them first")
    if rows is not None and x.shape[0] != rows:
        raise InvalidInput(f"features have {x.shape[0]} rows, expected {rows}")
    return x


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _loss(p: np.ndarray, y: np.ndarray) -> float:
    eps = 1e-12
    return float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))


def _cbytes(key: paillier.PublicKey, c: mpz) -> bytes:
    return int(c).to_bytes((2 * key.bits + 7) // 8, "big")


def _ciphertexts(key: paillier.PublicKey, body: dict, name: str, count: int) -> list[mpz]:
    raw = body_field(body, name, list)
    if len(raw) != count or not all(isinstance(c, bytes) and len(c) == (2 * key.bits + 7) // 8 for c in raw):
        raise MalformedMessage(f"{name} must hold {count} ciphertexts of {(2 * key.bits + 7) // 8} bytes")
    return [key.check_ciphertext(int.from_bytes(c, "big")) for c in raw]


def run_label_holder(session: Session, feature_holders: list[str], y: np.ndarray, x: np.ndarray | None = None,
                     cfg: VlrConfig = VlrConfig(), key: paillier.PrivateKey | None = None,
                     pool: paillier.NoisePool | None = None) -> LabelResult:
    yy = np.asarray(y, dtype=np.float64)
    if yy.ndim != 1 or not np.all((yy == 0) | (yy == 1)):
        raise InvalidInput("labels must be a 1-D array of 0 and 1")
    rows = len(yy)
    if rows == 0:
        raise InvalidInput("no aligned rows: the PSI intersection is empty")
    own = _check_features(x if x is not None else np.zeros((rows, 0)), rows)
    if cfg.fit_intercept:
        own = np.column_stack([np.ones(rows), own])
    if not feature_holders:
        raise InvalidInput("vertical LR needs at least one feature holder")
    sk = key or paillier.generate(cfg.key_bits)
    pk = sk.public
    pool = pool or paillier.NoisePool(pk)
    n_bytes, hs_bytes = pk.to_bytes()
    for f in feature_holders:
        session.send(f, "vlr.key", 0, {"n": n_bytes, "hs": hs_bytes, "rows": rows, "max_iter": cfg.max_iter,
                                       "learning_rate": cfg.learning_rate, "l2": cfg.l2})
    theta = np.zeros(own.shape[1])
    result = LabelResult(theta, np.full(rows, 0.5))
    width = (2 * pk.bits + 7) // 8
    for it in range(cfg.max_iter + 1):
        rnd = 1 + it
        total = np.zeros(rows, dtype=np.uint64)
        for f in feature_holders:
            vec = packed(session.recv(f, "vlr.score", rnd), "u", 8, count=rows)
            total += np.frombuffer(vec, dtype="<u8").astype(np.uint64)
        z = own @ theta + fixedpoint.decode(total, FU)
        p = _sigmoid(z)
        loss = _loss(p, yy) + 0.5 * cfg.l2 * float(theta[1:] @ theta[1:] if cfg.fit_intercept else theta @ theta)
        result.probabilities, result.iterations = p, it
        converged = bool(result.losses) and abs(result.losses[-1] - loss) < cfg.tol
        result.losses.append(loss)
        if converged or it == cfg.max_iter:
            result.converged = converged
            for f in feature_holders:
                session.send(f, "vlr.residual", rnd, {"stop": True})
            break
        d = p - yy
        enc_d = [_cbytes(pk, pool.encrypt(pk.encode_signed(int(v)))) for v in np.rint(d * 2**FD).astype(np.int64)]
        for f in feature_holders:
            session.send(f, "vlr.residual", rnd, {"stop": False, "c": enc_d})
        for f in feature_holders:
            body = session.recv(f, "vlr.grad", rnd)
            raw = body_field(body, "c", list)
            if not raw or len(raw) > 100_000:
                raise MalformedMessage("vlr.grad must hold one ciphertext per feature")
            cts = _ciphertexts(pk, body, "c", len(raw))
            plain = [sk.decrypt(c).to_bytes(width // 2, "big") for c in cts]
            session.send(f, "vlr.masked", rnd, {"v": plain})
        grad = own.T @ d / rows
        if cfg.l2:
            reg = cfg.l2 * theta
            if cfg.fit_intercept:
                reg[0] = 0.0
            grad = grad + reg
        theta = theta - cfg.learning_rate * grad
        result.theta = theta
    return result


def run_feature_holder(session: Session, label_holder: str, x: np.ndarray, cfg: VlrConfig = VlrConfig(),
                       peers: Sequence[str] = ()) -> np.ndarray:
    """A feature holder's role; ``peers`` are the other feature holders. Returns its coefficients."""
    xx = _check_features(x)
    rows, cols = xx.shape
    body = session.recv(label_holder, "vlr.key", 0)
    pk = paillier.PublicKey.from_bytes(body_field(body, "n", bytes), body_field(body, "hs", bytes), cfg.min_key_bits)
    if body.get("rows") != rows:
        raise ProtocolError(f"task {session.task!r}: label holder has {body.get('rows')} aligned rows, we have {rows}")
    for name in ("max_iter", "learning_rate", "l2"):
        if body.get(name) != getattr(cfg, name):
            raise ProtocolError(f"task {session.task!r}: label holder trains with {name}={body.get(name)!r}, "
                                f"we with {getattr(cfg, name)!r}")
    seeds: dict[str, bytes] = {}
    if peers:
        _, seeds = masks.exchange_keys(session, list(peers), "vlr.mkey", 0)
    noise = paillier.NoisePool(pk, table=False)
    enc_x = np.rint(xx * 2**FX).astype(np.int64)
    pos_rows = [np.nonzero(enc_x[:, j] > 0)[0] for j in range(cols)]
    neg_rows = [np.nonzero(enc_x[:, j] < 0)[0] for j in range(cols)]
    bound_bits = int(rows).bit_length() + 20 + FD + 1
    theta = np.zeros(cols)
    n_parties = len(peers) + 2
    for it in range(cfg.max_iter + 1):
        rnd = 1 + it
        u = fixedpoint.encode(xx @ theta, FU, n_parties)
        if seeds:
            u = masks.mask(u, session.party, seeds, label=rnd)
        session.send(label_holder, "vlr.score", rnd, {"u": u.astype("<u8").tobytes()})
        body = session.recv(label_holder, "vlr.residual", rnd)
        if body_field(body, "stop", bool):
            return theta
        enc_d = _ciphertexts(pk, body, "c", rows)
        out, rmask = [], []
        for j in range(cols):
            pos = paillier.multi_exp(pk, [enc_d[i] for i in pos_rows[j]], [int(enc_x[i, j]) for i in pos_rows[j]])
            neg = paillier.multi_exp(pk, [enc_d[i] for i in neg_rows[j]], [int(-enc_x[i, j]) for i in neg_rows[j]])
            r = int.from_bytes(secrets.token_bytes((bound_bits + SIGMA + 7) // 8), "big")
            if r.bit_length() + 1 >= pk.bits - 1:
                raise InvalidInput("Paillier key too small for this many rows")
            c = pk.add(pos * gmpy2.invert(neg, pk.n2) % pk.n2, noise.encrypt(r))
            out.append(_cbytes(pk, c))
            rmask.append(r)
        session.send(label_holder, "vlr.grad", rnd, {"c": out})
        vals = body_field(session.recv(label_holder, "vlr.masked", rnd), "v", list)
        if len(vals) != cols or not all(isinstance(v, bytes) and len(v) <= (pk.bits + 7) // 8 for v in vals):
            raise MalformedMessage("vlr.masked must hold one plaintext per feature")
        g = np.array([pk.decode_signed((int.from_bytes(v, "big") - r) % int(pk.n)) for v, r in zip(vals, rmask)],
                     dtype=np.float64) / 2**(FX + FD) / rows
        theta = theta - cfg.learning_rate * (g + cfg.l2 * theta)
    raise ProtocolError(f"task {session.task!r}: label holder never sent stop within {cfg.max_iter} iterations")

