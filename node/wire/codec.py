"""Canonical msgpack: exactly one byte string per value.

Hashes and signatures are taken over encodings, so two honest nodes must produce the same bytes
for the same value, and a decoder must refuse any other spelling of it (otherwise one transaction
could travel under several hashes). The rules, documented in docs/transaction-format.md:

- integers in their shortest msgpack form, only 0..2**64-1 and -2**63..-1;
- text as msgpack ``str`` (UTF-8), byte strings as ``bin``, no floats, no ext types;
- maps have ``str`` keys, sorted by their UTF-8 bytes, no duplicates;
- decoding rejects trailing bytes, anything over the size limits, and any input whose re-encoding
  differs from the input (non-shortest ints, unsorted maps, str8 where fixstr fits, ...).
"""

from __future__ import annotations

from typing import Any

import msgpack

from node.errors import DecodeError

# Hard ceilings for any single decode; wire types enforce tighter per-field limits.
MAX_DECODE_BYTES = 16 * 1024 * 1024
MAX_CONTAINER_LEN = 100_000


def _canonicalize(value: Any, depth: int = 0) -> Any:
    """Return ``value`` with every map rebuilt in sorted key order; reject non-wire types."""
    if depth > 32:
        raise DecodeError("value nested too deeply")
    if value is None or isinstance(value, (bool, bytes, str)):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise DecodeError("integer out of 64-bit range")
        return value
    if isinstance(value, (list, tuple)):
        return [_canonicalize(v, depth + 1) for v in value]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise DecodeError("map keys must be strings")
        return {k: _canonicalize(value[k], depth + 1) for k in sorted(value, key=lambda s: s.encode())}
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise DecodeError(f"type {type(value).__name__} cannot be encoded on the wire")


def encode(value: Any) -> bytes:
    """Canonical encoding of a value built from None, bool, int, str, bytes, list and str-keyed dict."""
    return _packb(_canonicalize(value), use_bin_type=True)


def encode_sorted(value: Any) -> bytes:
    """Fast path for values already in canonical shape (wire types build their maps in key order)."""
    return _packb(value, use_bin_type=True)


_packb = msgpack.packb


def _reject_ext(code: int, data: bytes) -> Any:
    raise DecodeError(f"msgpack ext type {code} is not allowed")


def decode(data: bytes, *, max_bytes: int = MAX_DECODE_BYTES) -> Any:
    """Decode one canonical value; raise DecodeError for anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("expected bytes")
    data = bytes(data)
    if len(data) > max_bytes:
        raise DecodeError(f"encoding is {len(data)} bytes, limit is {max_bytes}")
    if not data:
        raise DecodeError("empty input")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=_reject_ext,
            max_str_len=max_bytes,
            max_bin_len=max_bytes,
            max_array_len=MAX_CONTAINER_LEN,
            max_map_len=MAX_CONTAINER_LEN,
            max_ext_len=0,
        )
    except DecodeError:
        raise
    except msgpack.ExtraData:
        raise DecodeError("trailing bytes after the encoded value") from None
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError, UnicodeDecodeError) as exc:
        raise DecodeError(f"malformed msgpack: {exc.__class__.__name__}") from None
    except Exception as exc:  # msgpack raises assorted errors on hostile input
        raise DecodeError(f"malformed msgpack: {exc.__class__.__name__}") from None
    _check_shape(value)
    if _packb(value, use_bin_type=True) != data:
        raise DecodeError("encoding is not canonical")
    return value


_STR_ONLY = {str}
_NESTED = frozenset((dict, list, float))  # the types ``_check_shape`` looks inside (or refuses)


def _check_shape(value: Any, depth: int = 0) -> None:
    """No floats anywhere, map keys sorted (code point order equals UTF-8 byte order).

    With that, re-packing the decoded value reproduces the input exactly iff every integer,
    string and container used its shortest form, which ``decode`` then checks byte for byte.
    """
    if depth > 32:
        raise DecodeError("value nested too deeply")
    t = type(value)
    if depth == 32 and t in (dict, list) and value:
        raise DecodeError("value nested too deeply")  # its items would be at 33, which encode refuses
    if t is dict:
        if not value:
            return
        keys = list(value)
        if set(map(type, keys)) != _STR_ONLY:  # msgpack also decodes bin keys, which compare with nothing else
            raise DecodeError("map keys must be strings")
        if keys != sorted(keys):  # keys of one map are distinct, so sorted means strictly increasing
            raise DecodeError("encoding is not canonical: map keys are not sorted")
        for v in value.values():
            if type(v) in _NESTED:
                _check_shape(v, depth + 1)
    elif t is list:
        for v in value:
            if type(v) in _NESTED:
                _check_shape(v, depth + 1)
    elif t is float:
        raise DecodeError("floats are not allowed on the wire")
