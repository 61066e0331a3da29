"""Canonical msgpack: one encoding per value, and everything else rejected."""

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.errors import DecodeError
from node.wire import codec
from node.wire.types import MAX_TX_BYTES, Transaction

wire_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.binary(max_size=64) | st.text(max_size=32),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)


@given(wire_values)
def test_roundtrip_is_identity(value):
    data = codec.encode(value)
    assert codec.decode(data) == value
    assert codec.encode(codec.decode(data)) == data


def test_map_keys_are_sorted_whatever_the_insertion_order():
    assert codec.encode({"b": 1, "a": 2}) == codec.encode({"a": 2, "b": 1})


def test_unsorted_map_is_rejected():
    raw = msgpack.packb({"b": 1, "a": 2})
    with pytest.raises(DecodeError, match="canonical"):
        codec.decode(raw)


def test_non_shortest_integer_is_rejected():
    raw = b"\xcd\x00\x01"  # uint16 holding 1
    with pytest.raises(DecodeError, match="canonical"):
        codec.decode(raw)


def test_trailing_bytes_rejected():
    with pytest.raises(DecodeError, match="trailing"):
        codec.decode(codec.encode(1) + b"\x00")


@pytest.mark.parametrize("raw", [b"", b"\xc1", b"\xd9", b"\x92\x01", b"\xc4\xff"])
def test_malformed_rejected(raw):
    with pytest.raises(DecodeError):
        codec.decode(raw)


def test_floats_and_ext_rejected():
    with pytest.raises(DecodeError):
        codec.decode(msgpack.packb(1.5))
    with pytest.raises(DecodeError):
        codec.decode(msgpack.packb(msgpack.ExtType(1, b"x")))
    with pytest.raises(DecodeError):
        codec.encode(1.5)


def test_non_string_map_keys_rejected():
    with pytest.raises(DecodeError):
        codec.decode(msgpack.packb({1: 2}))


def test_oversized_input_rejected():
    with pytest.raises(DecodeError, match="limit"):
        codec.decode(codec.encode(b"x" * 100), max_bytes=50)


def _tx(**over):
    fields = dict(
        chain_id="test",
        nonce=b"n" * 16,
        expiry_height=10,
        sender_pubkey=b"\x04" + b"k" * 64,
        to=b"\x00" * 20,
        method="set",
        args=b"",
        fuel_limit=100,
        signature=b"s" * 64,
    )
    fields.update(over)
    return Transaction(**fields)


def test_transaction_roundtrip_and_signing_bytes_exclude_signature():
    tx = _tx()
    assert Transaction.decode(tx.encode()) == tx
    assert b"signature" not in tx.signing_bytes()
    assert _tx(signature=b"t" * 64).signing_bytes() == tx.signing_bytes()


def test_transaction_unknown_field_rejected():
    m = _tx().to_map()
    m["extra"] = 1
    with pytest.raises(DecodeError, match="unknown fields"):
        Transaction.decode(codec.encode(m))


def test_transaction_missing_field_rejected():
    m = _tx().to_map()
    del m["fuel_limit"]
    with pytest.raises(DecodeError, match="missing fields"):
        Transaction.decode(codec.encode(m))


@pytest.mark.parametrize(
    "field,value",
    [
        ("nonce", b"short"),
        ("expiry_height", -1),
        ("expiry_height", "10"),
        ("to", b"\x00" * 19),
        ("method", ""),
        ("method", "bad method"),
        ("chain_id", "has space"),
        ("fuel_limit", True),
        ("args", "not bytes"),
    ],
)
def test_transaction_wrong_types_rejected(field, value):
    m = _tx().to_map()
    m[field] = value
    with pytest.raises(DecodeError):
        Transaction.decode(codec.encode(m))


def test_transaction_size_limit():
    tx = _tx(args=b"x" * (MAX_TX_BYTES + 10))
    with pytest.raises(DecodeError):
        Transaction.decode(tx.encode())


def test_wire_types_fast_encoding_is_canonical():
    from node.wire.types import Block, BlockHeader, CommitCertificate, Event, Receipt, Vote

    tx = _tx()
    header = BlockHeader(chain_id="c", height=1, parent_hash=bytes(32), timestamp_ms=5, proposer=b"p", view=0,
                         tx_count=1, tx_root=bytes(32), receipt_root=bytes(32), state_root=bytes(32))
    receipt = Receipt(tx_hash=bytes(32), height=1, index=0, status=0, error="", fuel_used=3, return_value=b"",
                      events=(Event(contract=bytes(20), name="E", data=b"d"),))
    cert = CommitCertificate(chain_id="c", height=1, view=0, block_hash=bytes(32), votes=(Vote(b"v", b"s"),))
    for obj in (tx, header, receipt, cert, Block(header=header, txs=(tx,))):
        assert obj.encode() == codec.encode(obj.to_map())
        assert type(obj).decode(obj.encode()) == obj
    assert tx.signing_bytes() == codec.encode(tx.body_map())


def test_decode_refuses_nesting_that_encode_refuses():
    """Found by the wire fuzzer: 33 nested arrays around an integer decoded, but the value could
    not be encoded again (``encode`` allows 32 levels): decode and encode now agree on the limit."""
    deepest_allowed = b"\x91" * 32 + b"\x05"
    assert codec.encode(codec.decode(deepest_allowed)) == deepest_allowed
    with pytest.raises(DecodeError, match="nested too deeply"):
        codec.decode(b"\x91" * 33 + b"\x05")
    assert codec.decode(b"\x91" * 32 + b"\x90") is not None  # an empty container at the limit is fine


@pytest.mark.parametrize("keys", [[b"a"], ["a", b"b"], [b"a", "b"]])
def test_a_map_with_byte_string_keys_is_a_decode_error(keys):
    """Found by the wire and consensus fuzzers: msgpack decodes ``bin`` map keys; a map mixing
    them with ``str`` keys raised TypeError out of ``decode`` (a traceback in the peer read loop,
    -32603 from ``tx_send``), and one with only ``bin`` keys was accepted against the rules."""
    raw = msgpack.packb(dict.fromkeys(keys, 1), use_bin_type=True)
    with pytest.raises(DecodeError, match="map keys must be strings"):
        codec.decode(raw)
    with pytest.raises(DecodeError):
        Transaction.decode(raw)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"b": 1, "a": 2}, "map keys are not sorted"),
        ({"a": [{"y": 1, "x": 2}]}, "map keys are not sorted"),  # nested: a map inside a list inside a map
        ({"a": [1, {"b": [2.5]}]}, "floats are not allowed"),
        ([{"k": 1}, {"k": {"z": 1, "a": 1}}], "map keys are not sorted"),
    ],
)
def test_unsorted_keys_and_floats_anywhere_are_refused(value, message):
    raw = msgpack.packb(value, use_bin_type=True)  # msgpack keeps the insertion order given here
    with pytest.raises(DecodeError, match=message):
        codec.decode(raw)


def test_empty_and_sorted_maps_decode():
    value = {"a": {}, "b": [{}, {"c": 1, "d": [True, None, b"x", "s"]}]}
    assert codec.decode(codec.encode(value)) == value
