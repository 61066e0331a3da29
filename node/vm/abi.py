"""The contract ABI: host functions a contract may import, the exports it must provide, and limits.

Everything here is part of consensus: changing a signature, a limit or a fuel price changes what
a transaction does, so it may only change with a coordinated upgrade. ``docs/contracts.md``
describes the same table for contract authors.
"""

from __future__ import annotations

from dataclasses import dataclass

HOST_MODULE = "consortia"
ENTRY_EXPORT = "call"
MEMORY_EXPORT = "memory"
INIT_METHOD = "init"  # runs once, at deploy, when the deploy carries init_args

I32 = "i32"
I64 = "i64"


@dataclass(frozen=True)
class HostSignature:
    params: tuple[str, ...]
    results: tuple[str, ...]


HOST_FUNCTIONS: dict[str, HostSignature] = {
    "read_method": HostSignature((I32, I32), (I32,)),
    "read_args": HostSignature((I32, I32), (I32,)),
    "set_return": HostSignature((I32, I32), ()),
    "revert": HostSignature((I32, I32), ()),
    "storage_get": HostSignature((I32, I32, I32, I32), (I32,)),
    "storage_set": HostSignature((I32, I32, I32, I32), ()),
    "storage_remove": HostSignature((I32, I32), ()),
    "caller": HostSignature((I32,), ()),
    "origin": HostSignature((I32,), ()),
    "self_address": HostSignature((I32,), ()),
    "block_height": HostSignature((), (I64,)),
    "block_timestamp": HostSignature((), (I64,)),
    "emit": HostSignature((I32, I32, I32, I32), ()),
    "hash": HostSignature((I32, I32, I32), ()),
    "call_contract": HostSignature((I32, I32, I32, I32, I32, I64), (I32,)),
    "read_result": HostSignature((I32, I32), (I32,)),
    "context": HostSignature((I32,), ()),
    "storage_write_batch": HostSignature((I32, I32), ()),
    "has_role": HostSignature((I32, I32, I32), (I32,)),
}
CONTEXT_BYTES = 76  # caller 20 | origin 20 | self 20 | height u64 LE | timestamp_ms u64 LE
BATCH_REMOVE = 0xFFFF_FFFF  # value length that marks a removal in storage_write_batch

# --- resource limits --------------------------------------------------------------------------
MEMORY_LIMIT_BYTES = 16 * 1024 * 1024  # per linear memory; memory.grow past it returns -1
TABLE_ELEMENTS_LIMIT = 10_000
MAX_WASM_STACK_BYTES = 256 * 1024  # native stack for wasm frames; deeper recursion traps
MAX_CALL_DEPTH = 8  # contract -> contract nesting
MAX_STORAGE_KEY_BYTES = 1024
MAX_STORAGE_VALUE_BYTES = 128 * 1024
MAX_EVENT_DATA_BYTES = 64 * 1024
MAX_REVERT_BYTES = 1024

# --- fuel (1 unit ~ one wasm instruction) -----------------------------------------------------
FUEL_HOST_CALL = 50  # every host call, on top of what it does
FUEL_PER_COPIED_BYTE = 1  # bytes copied between host and contract memory
FUEL_HASH = 200
FUEL_INSTANTIATE = 10_000
FUEL_CALL_CONTRACT = 5_000
FUEL_HAS_ROLE = 50  # one state read, like storage_get
MAX_ROLE_NAME_BYTES = 64
FUEL_DEPLOY = 50_000
FUEL_PER_CODE_BYTE = 20  # validation and compilation of deployed code
