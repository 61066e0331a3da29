"""Thin bindings to wasmtime's C API for the hot path, with plain pointer types.

Why: wasmtime-py's generic trampolines wrap every argument and result in ``Val`` objects and
look up the function type on every call, costing 15-30 µs per host call or export call. These
bindings read and write the raw value array directly. They depend on wasmtime-py's private
``_ffi`` module, so ``pyproject.toml`` pins the wasmtime major version.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_char_p, c_size_t, c_uint8, c_uint64, c_void_p
from typing import TYPE_CHECKING, Any

from wasmtime import WasmtimeError
from wasmtime import _ffi as ffi

if TYPE_CHECKING:
    from _ctypes import CFuncPtr  # ctypes' stub names it only privately (_CFuncPtr)

ValRaw = ffi.wasmtime_val_raw_t
ValRawArray = POINTER(ValRaw)

# (env, caller, args_and_results, len) -> trap pointer or 0. Plain addresses: no per-call pointer objects.
CALLBACK_T = ctypes.CFUNCTYPE(c_size_t, c_void_p, c_void_p, c_void_p, c_size_t)
VAL_RAW_SIZE = ctypes.sizeof(ValRaw)
FINALIZER_T = ctypes.CFUNCTYPE(None, c_void_p)


def _bind(
    name: str,
    restype: type[ctypes._SimpleCData[Any]] | None,
    *argtypes: type[ctypes._SimpleCData[Any]] | type[ctypes._Pointer[Any]] | type[CFuncPtr],
) -> CFuncPtr:
    fn = ffi.dll._FuncPtr((name, ffi.dll))  # a private copy: wasmtime-py's own prototypes stay untouched
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


caller_context = _bind("wasmtime_caller_context", c_void_p, c_void_p)
memory_data = _bind("wasmtime_memory_data", c_void_p, c_void_p, c_void_p)
memory_data_size = _bind("wasmtime_memory_data_size", c_size_t, c_void_p, c_void_p)
context_get_fuel = _bind("wasmtime_context_get_fuel", c_void_p, c_void_p, POINTER(c_uint64))
context_set_fuel = _bind("wasmtime_context_set_fuel", c_void_p, c_void_p, c_uint64)
instance_pre_instantiate = _bind("wasmtime_instance_pre_instantiate", c_void_p, c_void_p, c_void_p, c_void_p, c_void_p)
func_call_unchecked = _bind("wasmtime_func_call_unchecked", c_void_p, c_void_p, c_void_p, ValRawArray, c_size_t, c_void_p)
trap_new = _bind("wasmtime_trap_new", c_void_p, c_char_p, c_size_t)
trap_code = _bind("wasmtime_trap_code", ctypes.c_bool, c_void_p, POINTER(c_uint8))
trap_delete = _bind("wasm_trap_delete", None, c_void_p)
error_delete = _bind("wasmtime_error_delete", None, c_void_p)
instance_export_get = _bind(
    "wasmtime_instance_export_get", ctypes.c_bool, c_void_p, c_void_p, c_char_p, c_size_t, POINTER(ffi.wasmtime_extern_t)
)
linker_define_func_unchecked = _bind(
    "wasmtime_linker_define_func_unchecked",
    c_void_p,
    c_void_p, c_char_p, c_size_t, c_char_p, c_size_t, c_void_p, CALLBACK_T, c_void_p, c_void_p,
)

EXTERN_FUNC = ffi.WASMTIME_EXTERN_FUNC.value
EXTERN_MEMORY = ffi.WASMTIME_EXTERN_MEMORY.value


def raise_if_error(err: int | None) -> None:
    if err:
        raise WasmtimeError._from_ptr(ctypes.cast(err, POINTER(ffi.wasmtime_error_t)))


def address_of(obj: ctypes._CData) -> int:
    """The C address of a wasmtime-py pointer or ctypes struct."""
    if isinstance(obj, ctypes._Pointer):
        return ctypes.cast(obj, c_void_p).value or 0
    return ctypes.addressof(obj)
