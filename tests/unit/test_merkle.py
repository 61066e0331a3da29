import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.merkle import merkle_proof, merkle_root, proof_from_json, proof_to_json, verify_proof

H = lambda b: hashlib.sha256(b).digest()  # noqa: E731


@given(st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=40), st.data())
def test_every_leaf_proves_inclusion(items, data):
    root = merkle_root(H, items)
    i = data.draw(st.integers(0, len(items) - 1))
    proof = merkle_proof(H, items, i)
    assert verify_proof(H, items[i], proof, root)
    assert verify_proof(H, items[i], proof_from_json(proof_to_json(proof)), root)
    assert not verify_proof(H, items[i] + b"!", proof, root)


def test_empty_root_and_single_leaf():
    assert merkle_root(H, []) == H(b"")
    assert merkle_root(H, [b"a"]) == H(b"\x00a")


def test_odd_level_is_not_duplicated():
    # [a, b, c] and [a, b, c, c] must differ (no Bitcoin-style duplication ambiguity).
    assert merkle_root(H, [b"a", b"b", b"c"]) != merkle_root(H, [b"a", b"b", b"c", b"c"])


def test_proof_out_of_range():
    with pytest.raises(IndexError):
        merkle_proof(H, [b"a"], 1)


def test_malformed_json_proof():
    with pytest.raises(ValueError):
        proof_from_json([{"sibling": "zz", "position": "up"}])
