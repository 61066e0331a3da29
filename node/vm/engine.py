"""The wasmtime engine, configured so that every node computes exactly the same result.

Determinism: NaNs are canonicalised, threads, SIMD and other proposals whose results could
differ between machines are off, and execution is bounded by fuel (counted, so the same on
every node) rather than by wall-clock time. All nodes of a network must run the same wasmtime
major version: stack-overflow depth depends on the compiled code.
"""

from __future__ import annotations

import hashlib

import wasmtime

from node.vm.abi import MAX_WASM_STACK_BYTES

_FEATURES_OFF = (
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
    return wasmtime.Engine(config)


def engine_fingerprint() -> str:
    """Identifies compiled artifacts: a cached module is only reused by the same engine build."""
    from importlib.metadata import version

    text = f"wasmtime={version('wasmtime')};stack={MAX_WASM_STACK_BYTES};off={','.join(_FEATURES_OFF)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
