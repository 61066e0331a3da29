"""Checks deployed code before it is stored: well-formed, within limits, and using only the ABI."""

from __future__ import annotations

import wasmtime

from node.execution.context import ExecutionFailure
from node.vm.abi import ENTRY_EXPORT, HOST_FUNCTIONS, HOST_MODULE, MEMORY_EXPORT, MEMORY_LIMIT_BYTES, TABLE_ELEMENTS_LIMIT

WASM_MAGIC = b"\x00asm\x01\x00\x00\x00"
_TABLE_SECTION = 4
_MEMORY_SECTION = 5
_START_SECTION = 8


class InvalidCode(ExecutionFailure):
    kind = "invalid_contract_code"


def _read_leb_u32(code: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(code) or shift > 28:
            raise InvalidCode("malformed wasm: bad section length")
        byte = code[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def sections(code: bytes) -> dict[int, int]:
    """Top-level section id -> element count (wasmtime's API shows neither the start section
    nor how many tables and memories a module defines)."""
    if not code.startswith(WASM_MAGIC):
        raise InvalidCode("malformed wasm: missing the \\0asm version 1 header")
    found: dict[int, int] = {}
    pos = len(WASM_MAGIC)
    while pos < len(code):
        section_id = code[pos]
        size, pos = _read_leb_u32(code, pos + 1)
        if pos + size > len(code):
            raise InvalidCode("malformed wasm: section runs past the end of the code")
        count = _read_leb_u32(code, pos)[0] if section_id in (_TABLE_SECTION, _MEMORY_SECTION) and size else 0
        found[section_id] = found.get(section_id, 0) + count
        pos += size
    return found


def _type_names(types: list[wasmtime.ValType]) -> tuple[str, ...]:
    return tuple(str(t) for t in types)


def compile_checked(engine: wasmtime.Engine, code: bytes, max_bytes: int) -> wasmtime.Module:
    """Compile ``code`` and check it against the ABI; raises InvalidCode with the reason."""
    if len(code) > max_bytes:
        raise InvalidCode(f"contract code is {len(code)} bytes, over the limit of {max_bytes}")
    found = sections(code)
    if _START_SECTION in found:
        raise InvalidCode("contract code must not have a start function")
    # One of each keeps instantiation deterministic when stores are reused (their limits count both).
    if found.get(_TABLE_SECTION, 0) > 1 or found.get(_MEMORY_SECTION, 0) > 1:
        raise InvalidCode("contract code may define at most one table and one memory")
    try:
        module = wasmtime.Module(engine, code)
    except wasmtime.WasmtimeError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid module"
        if "pooling allocator" in first_line:  # sizes checked while compiling for the instance pool
            raise InvalidCode(f"contract's initial memory or table is over the limits "
                              f"({MEMORY_LIMIT_BYTES // 1024} KiB of memory, {TABLE_ELEMENTS_LIMIT} table elements)") from None
        raise InvalidCode(f"malformed wasm: {first_line}") from None
    for imp in module.imports:
        where = f"{imp.module}.{imp.name}"
        if imp.module != HOST_MODULE:
            raise InvalidCode(f"import {where} is not from the host module '{HOST_MODULE}'")
        sig = HOST_FUNCTIONS.get(imp.name or "")
        if sig is None:
            raise InvalidCode(f"unknown host function {where}")
        ty = imp.type
        if not isinstance(ty, wasmtime.FuncType):
            raise InvalidCode(f"import {where} must be a function")
        if _type_names(ty.params) != sig.params or _type_names(ty.results) != sig.results:
            raise InvalidCode(f"import {where} has the wrong signature; expected {sig.params} -> {sig.results}")
    exports = {exp.name: exp.type for exp in module.exports}
    memory = exports.get(MEMORY_EXPORT)
    if not isinstance(memory, wasmtime.MemoryType):
        raise InvalidCode(f"contract must export its memory as '{MEMORY_EXPORT}'")
    if memory.limits.min * 65536 > MEMORY_LIMIT_BYTES:
        raise InvalidCode(f"contract asks for {memory.limits.min * 64} KiB of initial memory, over the cap of {MEMORY_LIMIT_BYTES // 1024} KiB")
    entry = exports.get(ENTRY_EXPORT)
    if not isinstance(entry, wasmtime.FuncType):
        raise InvalidCode(f"contract must export a function '{ENTRY_EXPORT}'")
    if entry.params or entry.results:
        raise InvalidCode(f"export '{ENTRY_EXPORT}' must take no parameters and return nothing")
    return module
