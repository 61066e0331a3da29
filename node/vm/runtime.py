"""The WASM contract VM: fills the executor's ``ContractVM`` slot with wasmtime.

Each call gets a fresh instance (no state survives between calls except contract storage),
runs with the transaction's remaining fuel, and either returns its value or raises an
``ExecutionFailure`` that says why; the executor then drops the transaction's state changes.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import replace
from pathlib import Path

import wasmtime

from node.crypto.base import CryptoSuite
from node.execution.context import CallContext, ExecutionFailure, FuelMeter, OutOfFuel, VmResourceError
from node.execution.executor import Router
from node.execution.system.base import decode_args
from node.execution.system.contracts import REGISTRY_ADDRESS, ContractInfo, code_key, contract_address, contract_key
from node.params import ChainParams
from node.state import StateReader
from node.vm import host, rawapi, trapsignals
from node.vm.abi import (
    ENTRY_EXPORT,
    FUEL_CALL_CONTRACT,
    FUEL_DEPLOY,
    FUEL_INSTANTIATE,
    FUEL_PER_CODE_BYTE,
    INIT_METHOD,
    MAX_CALL_DEPTH,
    MEMORY_EXPORT,
    MEMORY_LIMIT_BYTES,
    TABLE_ELEMENTS_LIMIT,
)
from node.vm.cache import CompiledContract, ModuleCache
from node.vm.engine import shared_engine
from node.vm.validate import InvalidCode, compile_checked
from node.wire import codec
from node.wire.types import MAX_EVENTS_PER_RECEIPT, Event

# A store is reused for this many instantiations, or until its instances have used this much memory;
# creating a store costs about as much as instantiating a module.
STORE_REUSE = 16
STORE_MEMORY_BUDGET = 64 * 1024 * 1024

CODE_HASH_CACHE = 10_000


_TRAP_MESSAGES = {
    wasmtime.TrapCode.STACK_OVERFLOW: "call stack exhausted (recursion too deep)",
    wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS: "memory access out of bounds",
    wasmtime.TrapCode.HEAP_MISALIGNED: "misaligned memory access",
    wasmtime.TrapCode.TABLE_OUT_OF_BOUNDS: "table access out of bounds",
    wasmtime.TrapCode.INDIRECT_CALL_TO_NULL: "indirect call to a null function",
    wasmtime.TrapCode.BAD_SIGNATURE: "indirect call with the wrong signature",
    wasmtime.TrapCode.INTEGER_OVERFLOW: "integer overflow",
    wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO: "integer division by zero",
    wasmtime.TrapCode.BAD_CONVERSION_TO_INTEGER: "invalid conversion to integer",
    wasmtime.TrapCode.UNREACHABLE: "unreachable instruction (a contract abort)",
}


class _StoreSlot:
    """A store plus the C structs a call fills in, allocated once and reused."""

    __slots__ = ("store", "context", "uses", "memory", "instance", "memory_export", "entry_export", "trap", "vals")

    def __init__(self, store: wasmtime.Store) -> None:
        self.store = store
        self.context = rawapi.address_of(store._context())
        self.uses = 0
        self.memory = 0
        self.instance = rawapi.ffi.wasmtime_instance_t()
        self.memory_export = rawapi.ffi.wasmtime_extern_t()
        self.entry_export = rawapi.ffi.wasmtime_extern_t()
        self.trap = ctypes.c_void_p(0)
        self.vals = (rawapi.ValRaw * 1)()


class _StorePool(threading.local):
    """One reusable store per call depth and thread, shared by every VM in the process."""

    def __init__(self) -> None:
        self.slots: dict[int, _StoreSlot] = {}


_POOL = _StorePool()


class WasmVM:
    """Deploys, calls and queries WASM contracts."""

    def __init__(self, suite: CryptoSuite, cache_dir: Path | None = None, cache_capacity: int = 128) -> None:
        self.suite = suite
        self.engine = shared_engine()
        self.linker = host.shared_linker(self.engine)
        self.modules = ModuleCache(self.engine, self.linker, cache_dir, cache_capacity)
        self.router: Router | None = None
        # address -> code hash; an address's code never changes once deployed, so this is only a
        # decoding shortcut: whether the contract exists is still read from state by the caller.
        self._code_hashes: dict[bytes, bytes] = {}
        self._trap_check_height = -1  # the block height at which the trap handlers were last checked

    def set_router(self, router: Router) -> None:
        """How a contract reaches other contracts (system or WASM); the executor installs it."""
        self.router = router

    # --- the ContractVM slot -------------------------------------------------------------------
    def has_contract(self, state: StateReader, address: bytes) -> bool:
        return state.get(contract_key(address)) is not None

    def deploy(self, ctx: CallContext, tx_hash: bytes, args: bytes) -> bytes:
        """Validate, store and (optionally) initialise a contract; returns ``{address, code_hash}``."""
        if ctx.read_only:
            raise ExecutionFailure("contracts cannot be deployed in a read-only call")
        decoded = decode_args(args)
        code = decoded.get("code")
        if not isinstance(code, bytes) or not code:
            raise InvalidCode("deploy needs 'code': the contract's wasm bytes")
        init_args = decoded.get("init_args")
        if init_args is not None and not isinstance(init_args, bytes):
            raise ExecutionFailure("'init_args' must be msgpack bytes")
        max_bytes = ChainParams.read(ctx.state).max_code_bytes
        if len(code) > max_bytes:
            raise InvalidCode(f"contract code is {len(code)} bytes, over the limit of {max_bytes}")
        ctx.fuel.charge(FUEL_DEPLOY + FUEL_PER_CODE_BYTE * len(code))
        code_hash = self.suite.hash(code)
        compiled = self.modules.get(code_hash) or self.modules.add(code_hash, compile_checked(self.engine, code, max_bytes))
        address = contract_address(self.suite, ctx.sender, tx_hash)
        if ctx.state.get(contract_key(address)) is not None:
            raise ExecutionFailure(f"a contract already exists at 0x{address.hex()}")
        if ctx.state.get(code_key(code_hash)) is None:
            ctx.state.set(code_key(code_hash), code)
        info = ContractInfo(address=address, code_hash=code_hash, deployer=ctx.sender, height=ctx.block.height, tx_hash=tx_hash)
        ctx.state.set(contract_key(address), info.encode())
        if init_args is not None:
            self._run(replace(ctx, contract=address), compiled, INIT_METHOD, init_args)
        ctx.events.append(_deployed_event(info))
        return codec.encode({"address": address, "code_hash": code_hash})

    def call(self, ctx: CallContext, method: str, args: bytes) -> bytes:
        if method == INIT_METHOD:
            raise ExecutionFailure(f"'{INIT_METHOD}' runs only when the contract is deployed")
        code_hash = self._code_hashes.get(ctx.contract)
        if code_hash is None:
            info = ContractInfo.read(ctx.state, ctx.contract)
            if info is None:
                raise ExecutionFailure(f"no contract at address 0x{ctx.contract.hex()}")
            code_hash = info.code_hash
            if len(self._code_hashes) >= CODE_HASH_CACHE:
                self._code_hashes.clear()
            self._code_hashes[ctx.contract] = code_hash
        return self._run(ctx, self._load(ctx.state, code_hash), method, args)

    # --- contract to contract ------------------------------------------------------------------
    def call_nested(self, parent: CallContext, address: bytes, method: str, args: bytes, fuel: int) -> tuple[bool, bytes]:
        """Run a call made by a contract; its effects are kept only if it succeeds."""
        if parent.depth + 1 > MAX_CALL_DEPTH:
            return False, f"call depth limit of {MAX_CALL_DEPTH} reached".encode()
        parent.fuel.charge(FUEL_CALL_CONTRACT)
        grant = parent.fuel.remaining if fuel == 0 else min(fuel, parent.fuel.remaining)
        child = CallContext(
            state=parent.state.child(),
            block=parent.block,
            sender=parent.contract,
            origin=parent.origin,
            contract=address,
            fuel=FuelMeter(grant),
            read_only=parent.read_only,
            depth=parent.depth + 1,
        )
        try:
            if self.router is not None:
                out = self.router(child, method, args)
            elif self.has_contract(child.state, address):
                out = self.call(child, method, args)
            else:
                raise ExecutionFailure(f"no contract at address 0x{address.hex()}")
        except ExecutionFailure as exc:
            return False, exc.message.encode()
        finally:
            parent.fuel.charge(child.fuel.used)
        if len(parent.events) + len(child.events) > MAX_EVENTS_PER_RECEIPT:
            raise ExecutionFailure(f"more than {MAX_EVENTS_PER_RECEIPT} events in one transaction")
        child.state.merge_into(parent.state)
        parent.events.extend(child.events)
        return True, out

    # --- running -------------------------------------------------------------------------------
    def _load(self, state: StateReader, code_hash: bytes) -> CompiledContract:
        compiled = self.modules.get(code_hash)
        if compiled is None:
            code = state.get(code_key(code_hash))
            if code is None:
                raise ExecutionFailure(f"contract code 0x{code_hash.hex()} is missing from state")
            compiled = self.modules.add(code_hash, compile_checked(self.engine, code, len(code)))
        return compiled

    def _store(self, depth: int, fresh: bool = False) -> _StoreSlot:
        slot = _POOL.slots.get(depth)
        if fresh or slot is None or slot.uses >= STORE_REUSE or slot.memory >= STORE_MEMORY_BUDGET:
            if slot is not None:  # release its pooled instances before asking for new ones
                del _POOL.slots[depth]
                slot = None
            store = wasmtime.Store(self.engine)
            store.set_limits(
                memory_size=MEMORY_LIMIT_BYTES,
                table_elements=TABLE_ELEMENTS_LIMIT,
                instances=STORE_REUSE,
                tables=STORE_REUSE,
                memories=STORE_REUSE,
            )
            slot = _StoreSlot(store)
            _POOL.slots[depth] = slot
        slot.uses += 1
        return slot

    @staticmethod
    def _instantiate(slot: _StoreSlot, compiled: CompiledContract, meter: FuelMeter) -> int | None:
        """A fresh instance in ``slot``; returns wasmtime's error pointer (a trap lands in ``slot.trap``)."""
        slot.trap.value = None
        # The store's counter may be left empty by an earlier call; instantiation must not fail on that.
        rawapi.context_set_fuel(slot.context, meter.remaining)
        return rawapi.instance_pre_instantiate(compiled.pre_addr, slot.context, ctypes.addressof(slot.instance),
                                               ctypes.addressof(slot.trap))

    def _run(self, ctx: CallContext, compiled: CompiledContract, method: str, args: bytes) -> bytes:
        if ctx.depth == 0 and (ctx.read_only or ctx.block.height != self._trap_check_height):
            trapsignals.ensure()  # a few µs: once per block, and per query
            self._trap_check_height = -1 if ctx.read_only else ctx.block.height
        meter = ctx.fuel
        meter.charge(FUEL_INSTANTIATE)
        slot = self._store(ctx.depth)
        err = self._instantiate(slot, compiled, meter)
        if err and not slot.trap.value:  # most likely the instance pool: retry once in an emptied store
            first = _failure_text(err, None)
            slot = self._store(ctx.depth, fresh=True)
            err = self._instantiate(slot, compiled, meter)
            if err and not slot.trap.value:
                raise VmResourceError(f"cannot instantiate contract: {first}; then {_failure_text(err, None)}")
        cctx, trap = slot.context, slot.trap
        if err or trap.value:
            raise ExecutionFailure(f"contract could not be instantiated: {_failure_text(err, trap.value)}")
        inst_addr = ctypes.addressof(slot.instance)
        if not (rawapi.instance_export_get(cctx, inst_addr, _MEMORY_NAME, len(_MEMORY_NAME), slot.memory_export)
                and rawapi.instance_export_get(cctx, inst_addr, _ENTRY_NAME, len(_ENTRY_NAME), slot.entry_export)):
            raise InvalidCode("contract lacks its memory or entry export")
        memory_addr = ctypes.addressof(slot.memory_export.of.memory)
        invocation = host.Invocation(self, ctx, method.encode(), args, memory_addr)
        rawapi.context_set_fuel(cctx, meter.remaining)  # the call's budget starts here, whatever instantiation did
        stack = host.STACK.items
        stack.append(invocation)
        try:
            err = rawapi.func_call_unchecked(cctx, ctypes.addressof(slot.entry_export.of.func), slot.vals, 0,
                                             ctypes.addressof(trap))
        finally:
            stack.pop()
            memory_size = rawapi.memory_data_size(cctx, memory_addr)
            slot.memory += memory_size
        if invocation.error is not None:  # raised by a host function, which left the meter exact
            if trap.value:
                rawapi.trap_delete(trap.value)
            if err:  # wasmtime reports a host function's trap as an error we own: free it (else each revert leaked ~2 KiB)
                rawapi.error_delete(err)
            # Raised without a reference cycle (error -> traceback -> this frame -> error): a cycle
            # kept this call's store and its instances alive until a full garbage collection, and
            # enough reverting calls in between exhausted the engine's instance pool.
            error, invocation.error = invocation.error, None
            try:
                raise error
            finally:
                del error
        meter.used = min(meter.limit, meter.limit - host.read_fuel(cctx) + invocation.pending)
        if err:
            raise ExecutionFailure(f"contract call failed: {_failure_text(err, None)}")
        if trap.value:
            raise self._trap_failure(trap.value, meter, memory_size)
        meter.used -= invocation.pending
        meter.charge(invocation.pending)  # raises OutOfFuel if the last host costs did not fit
        return invocation.return_value

    @staticmethod
    def _trap_failure(trap_ptr: int, meter: FuelMeter, memory_size: int) -> ExecutionFailure:
        code = ctypes.c_uint8(0)
        has_code = rawapi.trap_code(trap_ptr, ctypes.byref(code))
        rawapi.trap_delete(trap_ptr)
        if has_code and code.value == wasmtime.TrapCode.OUT_OF_FUEL.value:
            meter.used = meter.limit
            return OutOfFuel(f"out of fuel (limit {meter.limit})")
        if has_code and code.value == wasmtime.TrapCode.UNREACHABLE.value and memory_size + (1 << 20) >= MEMORY_LIMIT_BYTES:
            # Rust aborts this way when memory.grow fails at the cap.
            return ExecutionFailure(f"contract ran out of memory (limit {MEMORY_LIMIT_BYTES >> 20} MiB)")
        if has_code:
            for trap_code, text in _TRAP_MESSAGES.items():
                if trap_code.value == code.value:
                    return ExecutionFailure(f"contract trapped: {text}")
            return ExecutionFailure(f"contract trapped (code {code.value})")
        return ExecutionFailure("contract trapped")


_MEMORY_NAME = MEMORY_EXPORT.encode()
_ENTRY_NAME = ENTRY_EXPORT.encode()


def _failure_text(err: int | None, trap: int | None) -> str:
    if err:
        try:
            rawapi.raise_if_error(err)
        except wasmtime.WasmtimeError as exc:
            return _first_line(exc)
    if trap:
        code = ctypes.c_uint8(0)
        has_code = rawapi.trap_code(trap, ctypes.byref(code))
        rawapi.trap_delete(trap)
        return f"trap code {code.value}" if has_code else "trap"
    return "unknown failure"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _deployed_event(info: ContractInfo) -> Event:
    return Event(contract=REGISTRY_ADDRESS, name="ContractDeployed",
                 data=codec.encode({"address": info.address, "code_hash": info.code_hash, "deployer": info.deployer}))

