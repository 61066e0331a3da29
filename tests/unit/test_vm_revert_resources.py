"""A contract call that fails in a host function (a revert, bad arguments, a refused storage
write) must give back everything it took: found by the contract fuzzer (tests/fuzz), whose
process grew by about 2 KiB per reverting call and, after some 600,000 calls, could not
instantiate a contract any more ("maximum concurrent limit of 2000 for core instances reached").

Two causes: wasmtime hands the host function's trap back as an error the caller owns, which was
never freed; and the exception re-raised from the invocation formed a reference cycle through
the call's frame that kept the call's store (and its instances) alive until a full collection."""

from __future__ import annotations

import ctypes
import gc
import random
from pathlib import Path

import msgpack
import pytest
import wasmtime

from node.crypto import get_suite
from node.execution.context import BlockInfo, CallContext, FuelMeter, Revert
from node.state import StateOverlay
from node.vm import WasmVM
from node.wire import codec

DIST = Path(__file__).resolve().parents[2] / "contracts_wasm" / "dist"
BAD_HASH = msgpack.packb({"hash": b"\x01"})  # did.credential refuses it with a revert


class _Empty:
    def get(self, key: bytes) -> bytes | None:
        return None


@pytest.fixture(scope="module")
def reverting_call():
    vm = WasmVM(get_suite("std"))
    state = StateOverlay(_Empty())

    def ctx(contract: bytes, fuel: int = 20_000_000) -> CallContext:
        return CallContext(state=state, block=BlockInfo(10, 10_000, "t"), sender=b"\x01" * 20, origin=b"\x01" * 20,
                           contract=contract, fuel=FuelMeter(fuel))

    code = (DIST / "did.wasm").read_bytes()
    did = codec.decode(vm.deploy(ctx(b"", 200_000_000), random.Random(1).randbytes(32), codec.encode({"code": code})))["address"]

    def call() -> None:
        with pytest.raises(Revert):
            vm.call(ctx(did), "credential", BAD_HASH)

    return call


def test_a_reverting_call_leaves_no_store_for_the_garbage_collector(reverting_call):
    gc.collect()
    gc.disable()
    try:
        for _ in range(400):  # 25 stores' worth of calls (a store serves 16)
            reverting_call()
        alive = sum(isinstance(o, wasmtime.Store) for o in gc.get_objects())
    finally:
        gc.enable()
    assert alive <= 3, f"{alive} wasmtime stores wait for the cycle collector (one per depth in use is expected)"


def test_a_reverting_call_frees_what_wasmtime_hands_back(reverting_call):
    try:
        libc = ctypes.CDLL(None)
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        pytest.skip("needs glibc's mallinfo2")

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    mallinfo2.restype = MallInfo2
    for _ in range(200):
        reverting_call()
    gc.collect()
    before = mallinfo2().uordblks
    calls = 3_000
    for _ in range(calls):
        reverting_call()
    gc.collect()
    per_call = (mallinfo2().uordblks - before) / calls
    assert per_call < 300, f"the heap grew by {per_call:.0f} bytes per reverting call (it was about 2,000 before the fix)"
