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
import struct
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import wasmtime

from node.execution.context import CallContext, ExecutionFailure, OutOfFuel, Revert
from node.execution.system import acl
from node.vm import rawapi
from node.vm.abi import (
    BATCH_REMOVE,
    FUEL_HAS_ROLE,
    FUEL_HASH,
    FUEL_HOST_CALL,
    FUEL_PER_COPIED_BYTE,
    HOST_FUNCTIONS,
    HOST_MODULE,
    I64,
    MAX_EVENT_DATA_BYTES,
    MAX_REVERT_BYTES,
    MAX_ROLE_NAME_BYTES,
    MAX_STORAGE_KEY_BYTES,
    MAX_STORAGE_VALUE_BYTES,
)
from node.wire.types import MAX_EVENT_NAME_LEN, MAX_RETURN_BYTES

if TYPE_CHECKING:
    from node.vm.runtime import WasmVM

M32 = 0xFFFF_FFFF
M64 = 0xFFFF_FFFF_FFFF_FFFF


class _FuelBox(threading.local):
    def __init__(self) -> None:
        self.value = ctypes.c_uint64(0)
        self.ref = ctypes.byref(self.value)


_FUEL = _FuelBox()


def read_fuel(context: int) -> int:
    """Fuel left in the store behind ``context`` (a reused per-thread buffer: this runs per host call)."""
    box = _FUEL
    rawapi.context_get_fuel(context, box.ref)
    return box.value.value


class Invocation:
    """One contract call in progress: what it reads, what it returns, and where its memory is.

    Fuel: host functions that touch state (``METERED``) bring the meter up to date from
    wasmtime's counter before they run and write it back after. The flat fee of the other host
    calls and their copy costs collect in ``pending`` and are settled at the next metered call,
    once ``pending`` reaches ``FUEL_SYNC_THRESHOLD``, or when the call ends. Every settlement
    point depends only on the sequence of host calls, so all nodes run out of fuel at the same
    instruction.
    """

    __slots__ = ("vm", "ctx", "method", "args", "return_value", "result", "error", "memory_addr", "caller",
                 "pending", "_cctx", "_mem", "_last_get")

    def __init__(self, vm: WasmVM, ctx: CallContext, method: bytes, args: bytes, memory_addr: int) -> None:
        self.vm = vm
        self.ctx = ctx
        self.method = method
        self.args = args
        self.return_value = b""
        self.result = b""  # return value or error message of the last call_contract
        self.error: BaseException | None = None
        self.memory_addr = memory_addr
        self.caller = 0
        self.pending = 0
        self._cctx = 0
        self._mem: tuple[int, int] | None = None  # (base, size) during one host call: memory cannot grow meanwhile
        self._last_get: tuple[bytes, bytes | None] | None = None

    def context(self) -> int:
        if not self._cctx:
            self._cctx = rawapi.caller_context(self.caller)
        return self._cctx

    # --- fuel ----------------------------------------------------------------------------
    def charge(self, amount: int) -> None:
        """A cost settled lazily (see the class docstring)."""
        self.pending += amount

    def sync_in(self) -> None:
        """Make the meter exact: wasm fuel burnt so far plus pending host costs."""
        meter = self.ctx.fuel
        meter.used = meter.limit - read_fuel(self.context())
        pending, self.pending = self.pending, 0
        meter.charge(pending)

    def sync_out(self) -> None:
        rawapi.context_set_fuel(self.context(), self.ctx.fuel.remaining)

    # --- memory --------------------------------------------------------------------------
    def _base(self, ptr: int, length: int) -> int:
        mem = self._mem
        if mem is None:
            cctx = self.context()
            mem = self._mem = (rawapi.memory_data(cctx, self.memory_addr) or 0, rawapi.memory_data_size(cctx, self.memory_addr))
        if ptr + length > mem[1]:
            raise ExecutionFailure(f"contract passed a buffer outside its memory ({ptr}+{length} > {mem[1]})")
        return mem[0]

    def read(self, ptr: int, length: int) -> bytes:
        if length == 0:
            return b""
        return ctypes.string_at(self._base(ptr, length) + ptr, length)

    def write(self, ptr: int, data: bytes) -> None:
        if data:
            ctypes.memmove(self._base(ptr, len(data)) + ptr, data, len(data))

    def copy_out(self, ptr: int, cap: int, data: bytes) -> int:
        """The ``(ptr, cap) -> len`` convention: copy only if it fits; the contract retries if not."""
        if len(data) <= cap:
            self.pending += FUEL_PER_COPIED_BYTE * len(data)
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


# Host functions that read or write state, emit, hash or call: they settle fuel before running.
METERED = frozenset({"storage_get", "storage_set", "storage_remove", "storage_write_batch", "emit", "hash", "call_contract",
                     "has_role"})
FUEL_SYNC_THRESHOLD = 5_000


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


def context(inv: Invocation, out: int) -> None:
    ctx = inv.ctx
    inv.write(out, ctx.sender.rjust(20, b"\0") + ctx.origin.rjust(20, b"\0") + ctx.contract
              + _CONTEXT_NUMBERS.pack(ctx.block.height, ctx.block.timestamp_ms))


_CONTEXT_NUMBERS = struct.Struct("<QQ")


def storage_write_batch(inv: Invocation, ptr: int, length: int) -> None:
    """Apply a contract's buffered writes: (u32 key len, key, u32 value len or BATCH_REMOVE, value)*."""
    data = inv.read(ptr, length)
    pos, ctx = 0, inv.ctx
    inv._last_get = None
    try:
        while pos < length:
            (key_len,) = _U32.unpack_from(data, pos)
            if key_len > MAX_STORAGE_KEY_BYTES:
                raise ExecutionFailure(f"storage key longer than {MAX_STORAGE_KEY_BYTES} bytes")
            key = data[pos + 4:pos + 4 + key_len]
            pos += 4 + key_len
            (value_len,) = _U32.unpack_from(data, pos)
            pos += 4
            if value_len == BATCH_REMOVE:
                ctx.storage_remove(key)
                continue
            if value_len > MAX_STORAGE_VALUE_BYTES:
                raise ExecutionFailure(f"storage value larger than {MAX_STORAGE_VALUE_BYTES} bytes")
            if pos + value_len > length or len(key) != key_len:
                raise struct.error("truncated")
            ctx.storage_set(key, data[pos:pos + value_len])
            pos += value_len
    except struct.error:
        raise ExecutionFailure("malformed storage write batch") from None


_U32 = struct.Struct("<I")


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
    inv.ctx.fuel.charge(FUEL_HASH + FUEL_PER_COPIED_BYTE * length)
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
    inv.ctx.fuel.charge(FUEL_PER_COPIED_BYTE * args_len)
    ok, inv.result = inv.vm.call_nested(inv.ctx, address, method, args, fuel)
    return 0 if ok else 1


def has_role(inv: Invocation, role_ptr: int, role_len: int, addr_ptr: int) -> int:
    """1 if the address holds the role in the permissions contract (``acl``), else 0.

    The one question about permissions a contract can ask; governance writes the answers.
    """
    if role_len == 0 or role_len > MAX_ROLE_NAME_BYTES:
        raise ExecutionFailure(f"role name must be 1 to {MAX_ROLE_NAME_BYTES} bytes")
    role = inv.read(role_ptr, role_len).decode("utf-8", "replace")
    if role not in acl.ROLES:
        raise ExecutionFailure(f"unknown role '{role}' (known: {', '.join(acl.ROLES)})")
    address = inv.read(addr_ptr, 20)
    inv.ctx.fuel.charge(FUEL_HAS_ROLE)
    return 1 if acl.has_role(inv.ctx.state, address, role) else 0


IMPLEMENTATIONS: dict[str, Callable[..., int | None]] = {
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
    "context": context,
    "storage_write_batch": storage_write_batch,
    "has_role": has_role,
}
assert set(IMPLEMENTATIONS) == set(HOST_FUNCTIONS), "every ABI function needs an implementation"


# --- the invocation stack and the raw callbacks ------------------------------------------------

class _Stack(threading.local):
    def __init__(self) -> None:
        self.items: list[Invocation] = []


STACK = _Stack()
_HOST_TRAP_MESSAGE = b"host function failed"


def _param_layout(params: tuple[str, ...]) -> struct.Struct:
    """Parameters sit in 16-byte ``wasmtime_val_raw_t`` slots, each value at the start of its slot."""
    fmt = "<"
    for kind in params:
        width = 8 if kind == I64 else 4
        fmt += ("Q" if kind == I64 else "I") + f"{rawapi.VAL_RAW_SIZE - width}x"
    return struct.Struct(fmt)


def _make_callback(name: str) -> Callable[..., int]:
    impl = IMPLEMENTATIONS[name]
    sig = HOST_FUNCTIONS[name]
    layout = _param_layout(sig.params)
    unpack, size = layout.unpack, layout.size
    wide_result = bool(sig.results) and sig.results[0] == I64
    pack_result = (struct.Struct("<q" if wide_result else "<i").pack) if sig.results else None
    result_width = 8 if wide_result else 4
    result_mask = 1 << (8 * result_width)
    metered = name in METERED
    string_at, memmove = ctypes.string_at, ctypes.memmove

    def callback(_env: int, caller_ptr: int, vals: int, _n: int) -> int:
        inv = STACK.items[-1]
        inv.caller = caller_ptr
        inv._cctx = 0
        inv._mem = None
        try:
            inv.pending += FUEL_HOST_CALL
            params = unpack(string_at(vals, size)) if size else ()
            if metered:
                inv.sync_in()
                out = impl(inv, *params)
                inv.sync_out()
            else:
                out = impl(inv, *params)
                if inv.pending >= FUEL_SYNC_THRESHOLD:
                    inv.sync_in()
                    inv.sync_out()
            if pack_result is not None:
                if not isinstance(out, int):  # a host function with a result always returns one
                    raise TypeError(f"host function {name} returned {type(out).__name__}, not an integer")
                value = out
                if value >= result_mask >> 1:
                    value -= result_mask
                memmove(vals, pack_result(value), result_width)
            return 0
        except BaseException as exc:  # never unwind through wasm frames: record, trap, re-raise later
            inv.error = exc
            _settle_after_failure(inv, exc)
            return rawapi.trap_new(_HOST_TRAP_MESSAGE, len(_HOST_TRAP_MESSAGE)) or 0

    return callback


def _settle_after_failure(inv: Invocation, exc: BaseException) -> None:
    """Leave the meter exact for a call that ends in a host-side failure."""
    if isinstance(exc, OutOfFuel):  # the meter already says "all used"
        return
    meter = inv.ctx.fuel
    # After sync_in the meter is ahead of wasmtime's counter; before it, behind by the pending costs.
    meter.used = min(meter.limit, max(meter.used, meter.limit - read_fuel(inv.context())) + inv.pending)
    inv.pending = 0


_KEEP_ALIVE: list[object] = []  # C callbacks must outlive every linker that points at them


_linkers: dict[int, wasmtime.Linker] = {}
_linkers_lock = threading.Lock()


def shared_linker(engine: wasmtime.Engine) -> wasmtime.Linker:
    """Host functions are the same for every VM, so one linker per engine serves them all."""
    with _linkers_lock:
        linker = _linkers.get(id(engine))
        if linker is None:
            linker = _linkers[id(engine)] = make_linker(engine)
        return linker


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
