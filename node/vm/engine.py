"""The wasmtime engine, configured so that every node computes exactly the same result.

Determinism: NaNs are canonicalised, threads, SIMD and other proposals whose results could
differ between machines are off, and execution is bounded by fuel (counted, so the same on
every node) rather than by wall-clock time. All nodes of a network must run the same wasmtime
major version: stack-overflow depth depends on the compiled code.
"""

from __future__ import annotations

import hashlib
import threading

import wasmtime
from wasmtime import _ffi as ffi

from node.vm import trapsignals
from node.vm.abi import MAX_WASM_STACK_BYTES, MEMORY_LIMIT_BYTES, TABLE_ELEMENTS_LIMIT

# Pooling allocator: instance slots are reserved once and recycled, which makes instantiation
# and teardown several times cheaper than mapping fresh memory per call. The first
# KEEP_RESIDENT bytes of a recycled memory are zeroed in place instead of being unmapped, so a
# contract's stack and small heap do not page-fault on every call.
POOL_INSTANCES = 2_000
KEEP_RESIDENT_BYTES = 128 * 1024  # covers a Rust contract built with a 64 KiB stack
MEMORY_RESERVATION_BYTES = 2 * MEMORY_LIMIT_BYTES
MEMORY_GUARD_BYTES = 2 * 1024 * 1024

_FEATURES_OFF = (
    # Bulk memory (memory.copy / memory.fill) costs one unit of fuel however many bytes it moves,
    # so it would let a contract buy seconds of CPU for a few fuel.
    "wasm_bulk_memory",
    "wasm_threads",
    "wasm_simd",
    "wasm_relaxed_simd",
    "wasm_memory64",
    "wasm_multi_memory",
    "wasm_gc",
    "wasm_exceptions",
    "wasm_component_model",
    "wasm_wide_arithmetic",
    "wasm_custom_page_sizes",
    "wasm_stack_switching",
    "wasm_function_references",
)


def make_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.consume_fuel = True
    config.cranelift_nan_canonicalization = True
    config.max_wasm_stack = MAX_WASM_STACK_BYTES
    config.cranelift_opt_level = "speed"
    for feature in _FEATURES_OFF:
        if hasattr(wasmtime.Config, feature):
            setattr(config, feature, False)
    config.memory_reservation = MEMORY_RESERVATION_BYTES
    config.memory_guard_size = MEMORY_GUARD_BYTES
    pooling = ffi.wasmtime_pooling_allocation_config_new()
    ffi.wasmtime_pooling_allocation_config_total_core_instances_set(pooling, POOL_INSTANCES)
    ffi.wasmtime_pooling_allocation_config_total_memories_set(pooling, POOL_INSTANCES)
    ffi.wasmtime_pooling_allocation_config_total_tables_set(pooling, POOL_INSTANCES)
    ffi.wasmtime_pooling_allocation_config_max_memory_size_set(pooling, MEMORY_LIMIT_BYTES)
    ffi.wasmtime_pooling_allocation_config_table_elements_set(pooling, TABLE_ELEMENTS_LIMIT)
    ffi.wasmtime_pooling_allocation_config_linear_memory_keep_resident_set(pooling, KEEP_RESIDENT_BYTES)
    ffi.wasmtime_pooling_allocation_strategy_set(config.ptr(), pooling)
    ffi.wasmtime_pooling_allocation_config_delete(pooling)
    engine = wasmtime.Engine(config)
    trapsignals.record()  # wasmtime installs its trap handlers with the process's first engine
    return engine


_shared: wasmtime.Engine | None = None
_shared_lock = threading.Lock()


def shared_engine() -> wasmtime.Engine:
    """One engine (and one instance pool) per process, whatever the number of chains in it."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = make_engine()
        return _shared


def engine_fingerprint() -> str:
    """Identifies compiled artifacts: a cached module is only reused by the same engine build."""
    from importlib.metadata import version

    text = (f"wasmtime={version('wasmtime')};stack={MAX_WASM_STACK_BYTES};off={','.join(_FEATURES_OFF)};"
            f"reservation={MEMORY_RESERVATION_BYTES};guard={MEMORY_GUARD_BYTES}")
    return hashlib.sha256(text.encode()).hexdigest()[:16]
