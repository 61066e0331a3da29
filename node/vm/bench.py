"""VM benchmark: evidence records executed per second, and what a host call and a contract call cost.

Everything runs on one core in this process. The baseline is a bare wasmtime export call, so
the overheads printed are what Consortia adds on top of wasmtime itself.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from node.crypto import get_suite
from node.crypto.base import CryptoSuite, KeyPair
from node.crypto.bench import call_rate
from node.execution.context import BlockInfo, CallContext, FuelMeter
from node.state import StateOverlay
from node.txcheck import CheckedTx, check_transaction
from node.vm.runtime import WasmVM
from node.wire import codec
from node.wire.types import Transaction

RUNS = 3
EVIDENCE_WASM = Path(__file__).resolve().parents[2] / "contracts_wasm" / "dist" / "evidence.wasm"

# A contract whose `call` makes `n` host calls to block_height (n read from the first args byte).
_HOST_LOOP_WAT = """
(module
  (import "consortia" "read_args" (func $read_args (param i32 i32) (result i32)))
  (import "consortia" "block_height" (func $height (result i64)))
  (memory (export "memory") 1)
  (func (export "call") (local $n i32)
    (drop (call $read_args (i32.const 0) (i32.const 4)))
    (local.set $n (i32.load (i32.const 0)))
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get $n)))
        (drop (call $height))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $again)))))
"""


@dataclass
class VmBenchResult:
    suite: str
    evidence_records_per_s: float  # median of RUNS blocks
    evidence_records_per_s_best: float
    evidence_fuel_per_record: int
    bare_wasmtime_call_us: float
    raw_export_call_us: float
    contract_call_us: float
    host_call_us: float


def _per_call_us(fn: Callable[[], object], seconds: float) -> float:
    return 1e6 / call_rate(fn, seconds)


class _MemoryState:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)


def _ctx(state: StateOverlay, contract: bytes, fuel: int = 10_000_000) -> CallContext:
    return CallContext(state=state, block=BlockInfo(1, 1_700_000_000_000, "bench"), sender=bytes(20), origin=bytes(20),
                       contract=contract, fuel=FuelMeter(fuel))


def run_vm_bench(suite_name: str = "std", records: int = 5_000, seconds: float = 1.0) -> VmBenchResult:
    suite = get_suite(suite_name)
    vm = WasmVM(suite)
    state = StateOverlay(_MemoryState())

    # Baseline: wasmtime-py calling an empty export, and the raw path our runtime uses.
    engine = vm.engine
    store = wasmtime.Store(engine)
    store.set_fuel(10**12)
    nop = wasmtime.Instance(store, wasmtime.Module(engine, '(module (func (export "nop")))'), []).exports(store)["nop"]
    if not isinstance(nop, wasmtime.Func):
        raise TypeError(f"the nop export is a {type(nop).__name__}, not a function")
    bare_us = _per_call_us(lambda: nop(store), seconds)
    import ctypes

    from node.vm import rawapi

    cctx = rawapi.address_of(store._context())
    func_addr = ctypes.addressof(nop._func)
    vals = (rawapi.ValRaw * 1)()
    trap = ctypes.c_void_p(0)
    raw_us = _per_call_us(lambda: rawapi.func_call_unchecked(cctx, func_addr, vals, 0, ctypes.addressof(trap)), seconds)

    # Host-call contract, deployed through the VM.
    deploy_ctx = _ctx(state, b"", fuel=100_000_000)
    out = codec.decode(vm.deploy(deploy_ctx, secrets.token_bytes(32), codec.encode({"code": wasmtime.wat2wasm(_HOST_LOOP_WAT)})))
    loop_addr = out["address"]
    zero = (0).to_bytes(4, "little")
    many = (1000).to_bytes(4, "little")
    contract_us = _per_call_us(lambda: vm.call(_ctx(state, loop_addr), "run", zero), seconds)
    with_calls_us = _per_call_us(lambda: vm.call(_ctx(state, loop_addr), "run", many), seconds)
    host_us = (with_calls_us - contract_us) / 1000

    # Evidence records through the executor, as in a block.
    from node.execution.executor import Executor
    from node.execution.system.acl import FLAG, deploy_key
    from node.execution.system.registry import system_contracts

    key = suite.generate_keypair()
    genesis_state = _MemoryState()
    genesis_state.data[deploy_key(suite.address(key.public_bytes))] = FLAG  # the deployer holds deploy rights
    executor = Executor(suite, "bench", genesis_state, _NoNonces(), system_contracts(), vm=vm)
    code = EVIDENCE_WASM.read_bytes()
    deploy = _signed(suite, key, b"", "deploy", {"code": code}, fuel=100_000_000)
    first = executor.execute_block([deploy], height=1, timestamp_ms=1, prev_state_root=bytes(32), strict=True)
    executor.state = _Committed(first.state_writes)
    executor.tree = first.tree_nodes  # the state-tree nodes under first.state_root
    address = codec.decode(first.receipts[0].return_value)["address"]
    rates: list[float] = []
    for _ in range(RUNS):  # the median of several blocks: shared machines are noisy
        txs = [_signed(suite, key, address, "record", {"hash": secrets.token_bytes(32), "kind": "data_input",
                                                        "task_id": f"task-{i % 50}"}) for i in range(records)]
        start = time.perf_counter()
        result = executor.execute_block(txs, height=2, timestamp_ms=2, prev_state_root=first.state_root, strict=True)
        rates.append(records / (time.perf_counter() - start))
        failed = [r.error for r in result.receipts if r.status != 0]
        if failed:
            raise RuntimeError(f"evidence benchmark: {len(failed)} records failed, first: {failed[0]}")
    fuel = sum(r.fuel_used for r in result.receipts) // len(result.receipts)

    return VmBenchResult(
        suite=suite_name,
        evidence_records_per_s=round(statistics.median(rates), 1),
        evidence_records_per_s_best=round(max(rates), 1),
        evidence_fuel_per_record=fuel,
        bare_wasmtime_call_us=round(bare_us, 2),
        raw_export_call_us=round(raw_us, 2),
        contract_call_us=round(contract_us, 2),
        host_call_us=round(host_us, 2),
    )


class _NoNonces:
    def nonce_expiry(self, sender: bytes, nonce: bytes) -> int | None:
        return None


class _Committed:
    def __init__(self, writes: dict[bytes, bytes | None]) -> None:
        self.writes = {k: v for k, v in writes.items() if v is not None}

    def get(self, key: bytes) -> bytes | None:
        return self.writes.get(key)


def _signed(suite: CryptoSuite, key: KeyPair, to: bytes, method: str, args: object, fuel: int = 5_000_000) -> CheckedTx:
    tx = Transaction(chain_id="bench", nonce=secrets.token_bytes(16), expiry_height=100, sender_pubkey=key.public_bytes,
                     to=to, method=method, args=codec.encode(args), fuel_limit=fuel)
    tx = Transaction(**{**tx.to_map(), "signature": suite.sign(key.private_bytes, tx.signing_bytes())})
    return check_transaction(suite, "bench", tx, size=len(tx.encode()), verify=False)


def format_result(r: VmBenchResult) -> str:
    return (f"vm suite={r.suite} evidence_records_per_s={r.evidence_records_per_s} (median of {RUNS}, target 5000) "
            f"best={r.evidence_records_per_s_best} "
            f"fuel_per_record={r.evidence_fuel_per_record} bare_wasmtime_call_us={r.bare_wasmtime_call_us} "
            f"raw_export_call_us={r.raw_export_call_us} contract_call_us={r.contract_call_us} host_call_us={r.host_call_us}")
