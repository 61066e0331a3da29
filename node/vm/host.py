"""The host side of the ABI: one ``Invocation`` per running contract call and the host functions.

Host functions are registered once per engine on a linker. They find the call they serve on a
thread-local stack of invocations (a contract that calls another contract pushes a new one).
Every host call first brings the transaction's fuel meter up to date from wasmtime's counter,
charges its own cost, and writes the remaining fuel back, so wasm instructions and host work
draw on one budget. An exception in a host function is stored on the invocation and turned
into a trap; the runtime re-raises it when the contract call returns.
"""

from __future__ import annotations

import ctypes
import threading
from typing import TYPE_CHECKING, Callable

import wasmtime

from node.execution.context import CallContext, ExecutionFailure, Revert
from node.vm import rawapi
from node.vm.abi import (
    FUEL_HASH,
    FUEL_HOST_CALL,
    FUEL_PER_COPIED_BYTE,
    HOST_FUNCTIONS,
    HOST_MODULE,
    I64,
    MAX_EVENT_DATA_BYTES,
    MAX_REVERT_BYTES,
    MAX_STORAGE_KEY_BYTES,
    MAX_STORAGE_VALUE_BYTES,
)
from node.wire.types import MAX_EVENT_NAME_LEN, MAX_RETURN_BYTES

if TYPE_CHECKING:
    from node.vm.runtime import WasmVM

M32 = 0xFFFF_FFFF
M64 = 0xFFFF_FFFF_FFFF_FFFF


class Invocation:
    """One contract call in progress: what it reads, what it returns, and where its memory is."""

    __slots__ = ("vm", "ctx", "method", "args", "return_value", "result", "error", "memory_addr", "cctx",
                 "_fuel_box", "_last_get")

    def __init__(self, vm: "WasmVM", ctx: CallContext, method: bytes, args: bytes, memory_addr: int) -> None:
        self.vm = vm
        self.ctx = ctx
        self.method = method
        self.args = args
        self.return_value = b""
        self.result = b""  # return value or error message of the last call_contract
        self.error: BaseException | None = None
        self.memory_addr = memory_addr
        self.cctx = 0
        self._fuel_box = ctypes.c_uint64(0)
        self._last_get: tuple[bytes, bytes | None] | None = None

    # --- fuel ----------------------------------------------------------------------------
    def enter_host(self, caller: int) -> None:
        self.cctx = cctx = rawapi.caller_context(caller)
        rawapi.context_get_fuel(cctx, ctypes.byref(self._fuel_box))
        meter = self.ctx.fuel
        meter.used = meter.limit - self._fuel_box.value
        meter.charge(FUEL_HOST_CALL)

    def leave_host(self) -> None:
        rawapi.context_set_fuel(self.cctx, self.ctx.fuel.remaining)

    def charge(self, amount: int) -> None:
        self.ctx.fuel.charge(amount)

    # --- memory --------------------------------------------------------------------------
    def _check(self, ptr: int, length: int) -> int:
        size = rawapi.memory_data_size(self.cctx, self.memory_addr)
        if ptr + length > size:
            raise ExecutionFailure(f"contract passed a buffer outside its memory ({ptr}+{length} > {size})")
        return rawapi.memory_data(self.cctx, self.memory_addr) or 0

    def read(self, ptr: int, length: int) -> bytes:
        if length == 0:
            return b""
        base = self._check(ptr, length)
        return ctypes.string_at(base + ptr, length)

    def write(self, ptr: int, data: bytes) -> None:
        if data:
            base = self._check(ptr, len(data))
            ctypes.memmove(base + ptr, data, len(data))

    def copy_out(self, ptr: int, cap: int, data: bytes) -> int:
        """The ``(ptr, cap) -> len`` convention: copy only if it fits; the contract retries if not."""
        if len(data) <= cap:
            self.charge(FUEL_PER_COPIED_BYTE * len(data))
            self.write(ptr, data)
        return len(data)


# --- host functions (the ABI; see docs/contracts.md) -------------------------------------------

def read_method(inv: Invocation, ptr: int, cap: int) -> int:
    return inv.copy_out(ptr, cap, inv.method)


def read_args(inv: Invocation, ptr: int, cap: int) -> int:
    return inv.copy_out(ptr, cap, inv.args)


def read_result(inv: Invocation, ptr: int, cap: int) -> int:
    return inv.copy_out(ptr, cap, inv.result)


def set_return(inv: Invocation, ptr: int, length: int) -> None:
    if length > MAX_RETURN_BYTES:
        raise ExecutionFailure(f"return value larger than {MAX_RETURN_BYTES} bytes")
    inv.charge(FUEL_PER_COPIED_BYTE * length)
    inv.return_value = inv.read(ptr, length)


def revert(inv: Invocation, ptr: int, length: int) -> None:
    message = inv.read(ptr, min(length, MAX_REVERT_BYTES)).decode("utf-8", "replace")
    raise Revert(message or "reverted")


def _key(inv: Invocation, ptr: int, length: int) -> bytes:
    if length > MAX_STORAGE_KEY_BYTES:
        raise ExecutionFailure(f"storage key longer than {MAX_STORAGE_KEY_BYTES} bytes")
    return inv.read(ptr, length)


def storage_get(inv: Invocation, key_ptr: int, key_len: int, out_ptr: int, cap: int) -> int:
    key = _key(inv, key_ptr, key_len)
    last = inv._last_get
    if last is not None and last[0] == key:  # the retry after a too-small buffer is not a second read
        value = last[1]
    else:
        value = inv.ctx.storage_get(key)
    if value is None:
        inv._last_get = None
        return -1
    inv._last_get = (key, value) if len(value) > cap else None
    return inv.copy_out(out_ptr, cap, value)


def storage_set(inv: Invocation, key_ptr: int, key_len: int, value_ptr: int, value_len: int) -> None:
    if value_len > MAX_STORAGE_VALUE_BYTES:
        raise ExecutionFailure(f"storage value larger than {MAX_STORAGE_VALUE_BYTES} bytes")
    key = _key(inv, key_ptr, key_len)
    inv._last_get = None
    inv.ctx.storage_set(key, inv.read(value_ptr, value_len))


def storage_remove(inv: Invocation, key_ptr: int, key_len: int) -> None:
    key = _key(inv, key_ptr, key_len)
    inv._last_get = None
    inv.ctx.storage_remove(key)


def caller(inv: Invocation, out: int) -> None:
    inv.write(out, inv.ctx.sender.rjust(20, b"\0"))


def origin(inv: Invocation, out: int) -> None:
    inv.write(out, inv.ctx.origin.rjust(20, b"\0"))


def self_address(inv: Invocation, out: int) -> None:
    inv.write(out, inv.ctx.contract)


def block_height(inv: Invocation) -> int:
    return inv.ctx.block.height


def block_timestamp(inv: Invocation) -> int:
    return inv.ctx.block.timestamp_ms


def emit(inv: Invocation, name_ptr: int, name_len: int, data_ptr: int, data_len: int) -> None:
    if name_len == 0 or name_len > MAX_EVENT_NAME_LEN:
        raise ExecutionFailure(f"event name must be 1 to {MAX_EVENT_NAME_LEN} bytes")
    if data_len > MAX_EVENT_DATA_BYTES:
        raise ExecutionFailure(f"event data larger than {MAX_EVENT_DATA_BYTES} bytes")
    try:
        name = inv.read(name_ptr, name_len).decode("utf-8")
    except UnicodeDecodeError:
        raise ExecutionFailure("event name is not valid UTF-8") from None
    inv.ctx.emit(name, inv.read(data_ptr, data_len))


def hash_(inv: Invocation, ptr: int, length: int, out: int) -> None:
    inv.charge(FUEL_HASH + FUEL_PER_COPIED_BYTE * length)
    inv.write(out, inv.vm.suite.hash(inv.read(ptr, length)))


def call_contract(inv: Invocation, addr_ptr: int, method_ptr: int, method_len: int, args_ptr: int, args_len: int,
                  fuel: int) -> int:
    address = inv.read(addr_ptr, 20)
    if method_len > 64:
        raise ExecutionFailure("method name longer than 64 bytes")
    try:
        method = inv.read(method_ptr, method_len).decode("utf-8")
    except UnicodeDecodeError:
        raise ExecutionFailure("method name is not valid UTF-8") from None
    args = inv.read(args_ptr, args_len)
    inv.charge(FUEL_PER_COPIED_BYTE * args_len)
    ok, inv.result = inv.vm.call_nested(inv.ctx, address, method, args, fuel)
    return 0 if ok else 1


IMPLEMENTATIONS: dict[str, Callable[..., object]] = {
    "read_method": read_method,
    "read_args": read_args,
    "read_result": read_result,
    "set_return": set_return,
    "revert": revert,
    "storage_get": storage_get,
    "storage_set": storage_set,
    "storage_remove": storage_remove,
    "caller": caller,
    "origin": origin,
    "self_address": self_address,
    "block_height": block_height,
    "block_timestamp": block_timestamp,
    "emit": emit,
    "hash": hash_,
    "call_contract": call_contract,
}
assert set(IMPLEMENTATIONS) == set(HOST_FUNCTIONS), "every ABI function needs an implementation"


# --- the invocation stack and the raw callbacks ------------------------------------------------

class _Stack(threading.local):
    def __init__(self) -> None:
        self.items: list[Invocation] = []


STACK = _Stack()
_HOST_TRAP_MESSAGE = b"host function failed"


def _make_callback(name: str) -> Callable[..., int]:
    impl = IMPLEMENTATIONS[name]
    sig = HOST_FUNCTIONS[name]
    wide = tuple(kind == I64 for kind in sig.params)
    result_kind = sig.results[0] if sig.results else None

    def callback(_env: int, caller_ptr: int, vals: "rawapi.ValRawArray", _n: int) -> int:
        inv = STACK.items[-1]
        try:
            inv.enter_host(caller_ptr)
            params = [vals[i].i64 & M64 if is64 else vals[i].i32 & M32 for i, is64 in enumerate(wide)]
            out = impl(inv, *params)
            inv.leave_host()
            if result_kind is not None:
                value = int(out)  # type: ignore[call-overload]
                if result_kind == I64:
                    vals[0].i64 = value - (1 << 64) if value >= 1 << 63 else value
                else:
                    vals[0].i32 = value - (1 << 32) if value >= 1 << 31 else value
            return 0
        except BaseException as exc:  # never unwind through wasm frames: record, trap, re-raise later
            inv.error = exc
            return rawapi.trap_new(_HOST_TRAP_MESSAGE, len(_HOST_TRAP_MESSAGE)) or 0

    return callback


_KEEP_ALIVE: list[object] = []  # C callbacks must outlive every linker that points at them


def make_linker(engine: wasmtime.Engine) -> wasmtime.Linker:
    """A linker with the whole host module defined, ready for ``instantiate_pre``."""
    linker = wasmtime.Linker(engine)
    module = HOST_MODULE.encode()
    for name, sig in HOST_FUNCTIONS.items():
        functype = wasmtime.FuncType(
            [wasmtime.ValType.i64() if p == I64 else wasmtime.ValType.i32() for p in sig.params],
            [wasmtime.ValType.i64() if r == I64 else wasmtime.ValType.i32() for r in sig.results],
        )
        callback = rawapi.CALLBACK_T(_make_callback(name))
        _KEEP_ALIVE.append(callback)
        err = rawapi.linker_define_func_unchecked(
            rawapi.address_of(linker.ptr()), module, len(module), name.encode(), len(name),
            rawapi.address_of(functype.ptr()), callback, None, None,
        )
        rawapi.raise_if_error(err)
    return linker
