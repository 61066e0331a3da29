"""WASM contract runtime (wasmtime): host interface, validation, module cache, deploy and call."""

from node.vm.runtime import WasmVM

__all__ = ["WasmVM"]
