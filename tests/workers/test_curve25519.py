"""Hash to curve against RFC 9380's vectors, and the checks on received points."""

from __future__ import annotations

import gmpy2
import pytest
from nacl.bindings import crypto_scalarmult

from workers.protocols import curve25519 as c
from workers.protocols.errors import InvalidPoint

RFC_DST = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_NU_"


@pytest.mark.parametrize("msg,u,px", [
    (b"", "608d892b641f0328523802a6603427c26e55e6f27e71a91a478148d45b5093cd",
     "1bb913f0c9daefa0b3375378ffa534bda5526c97391952a7789eb976edfe4d08"),
    (b"abc", "46f5b22494bfeaa7f232cc8d054be68561af50230234d7d1d63d1d9abeca8da5",
     "7c22950b7d900fa866334262fcaea47a441a578df43b894b4625c9b450f9a026"),
    (b"abcdef0123456789", None, "31ad08a8b0deeb2a4d8b0206ca25f567ab4e042746f792f4b7973f3ae2096c52"),
])
def test_rfc9380_encode_to_curve_vectors(msg, u, px):
    h = c.ItemHasher(RFC_DST)
    if u is not None:
        assert int(h.field_element(msg)) == int(u, 16)
    assert h.encode_to_curve(msg) == int(px, 16)


def test_expand_message_xmd_matches_the_fast_path():
    h = c.ItemHasher(b"DST")
    uniform = c.expand_message_xmd(b"item", b"DST", 48)
    assert int(h.field_element(b"item")) == int.from_bytes(uniform, "big") % c.P


def test_protocol_map_is_the_rfc_output_before_cofactor_clearing():
    h = c.ItemHasher(RFC_DST)
    v = gmpy2.mpz(int.from_bytes(h.map_to_u(b"abc"), "little"))
    for _ in range(3):
        v = c.x_double(v)
    assert int(v) == h.encode_to_curve(b"abc")


def test_blinding_commutes():
    h = c.ItemHasher(b"t")
    a, b = bytes([1] * 32), bytes([2] * 32)
    p = h.map_to_u(b"x")
    assert crypto_scalarmult(a, crypto_scalarmult(b, p)) == crypto_scalarmult(b, crypto_scalarmult(a, p))


@pytest.mark.parametrize("u", sorted(c.SMALL_ORDER_U - {c.P, c.P + 1}))
def test_small_order_points_are_refused(u):
    with pytest.raises(InvalidPoint):
        c.check_point(u.to_bytes(32, "little"))


def test_listed_small_order_points_really_have_small_order():
    for u in c.SMALL_ORDER_U - {0, c.P, c.P + 1, c.P - 1}:
        v = gmpy2.mpz(u)
        with pytest.raises(ZeroDivisionError):
            for _ in range(3):
                v = c.x_double(v)


def test_non_canonical_twist_and_short_points_are_refused():
    with pytest.raises(InvalidPoint, match="canonical"):
        c.check_point((c.P + 5).to_bytes(32, "little"))
    with pytest.raises(InvalidPoint, match="canonical"):
        c.check_point(b"\xff" * 32)
    twist = next(u for u in range(2, 100)
                 if gmpy2.jacobi(gmpy2.mpz(u**3 + c.A * u * u + u) % c.P, c.P) == -1)
    with pytest.raises(InvalidPoint, match="twist"):
        c.check_point(twist.to_bytes(32, "little"))
    with pytest.raises(InvalidPoint):
        c.check_point(b"\x09" * 31)
    c.check_point((9).to_bytes(32, "little"))  # the base point passes


def test_batched_map_equals_the_single_map():
    h = c.ItemHasher(b"batch")
    items = [b"item-%d" % i for i in range(300)] + [b""]
    assert h.map_to_u_batch(items) == [h.map_to_u(x) for x in items]
    assert h.map_to_u_batch([]) == []
