"""The WASM runtime on real modules: deploy, call, query, nested calls, and every kind of bad contract.

Each failure must end only its own transaction: a clear error in the receipt, fuel charged, no
state left behind, and the chain carrying on.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import msgpack
import pytest
import wasmtime

from node.chain import Chain
from node.errors import ExecutionError, InvalidTransaction
from node.execution.system.contracts import REGISTRY_ADDRESS, code_key, contract_key
from node.store.chainstore import ChainStore
from node.vm import WasmVM
from node.vm.abi import MEMORY_LIMIT_BYTES
from node.wire.types import STATUS_FAILED, STATUS_OK, Receipt
from tests.conftest import TestNet, make_testnet
from tests.unit.test_chain import seal

EVIDENCE = Path(__file__).resolve().parents[2] / "contracts_wasm" / "dist" / "evidence.wasm"
DEPLOY_FUEL = 50_000_000

# --- hand-written modules (WAT) ---------------------------------------------------------------

HEADER = '''
  (import "consortia" "read_args" (func $read_args (param i32 i32) (result i32)))
  (import "consortia" "set_return" (func $set_return (param i32 i32)))
  (import "consortia" "storage_set" (func $storage_set (param i32 i32 i32 i32)))
  (import "consortia" "storage_get" (func $storage_get (param i32 i32 i32 i32) (result i32)))
  (import "consortia" "revert" (func $revert (param i32 i32)))
  (import "consortia" "read_method" (func $read_method (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "key")
  (data (i32.const 110) "value")
  (data (i32.const 120) "refused by contract")
'''

# Behaviour chosen by the first argument byte: each case is one kind of good or bad contract.
PLAYGROUND = f'''(module {HEADER}
  (func $recurse (param i32) (result i32) (i32.add (call $recurse (local.get 0)) (i32.const 1)))
  (func (export "call") (local $mode i32) (local $n i32)
    (drop (call $read_args (i32.const 0) (i32.const 64)))
    (local.set $mode (i32.load8_u (i32.const 0)))
    ;; 0: write key=value and return "ok"
    (if (i32.eq (local.get $mode) (i32.const 0)) (then
      (call $storage_set (i32.const 100) (i32.const 3) (i32.const 110) (i32.const 5))
      (call $set_return (i32.const 110) (i32.const 2)) (return)))
    ;; 1: write, then trap: the write must not survive
    (if (i32.eq (local.get $mode) (i32.const 1)) (then
      (call $storage_set (i32.const 100) (i32.const 3) (i32.const 120) (i32.const 5))
      (unreachable)))
    ;; 2: loop forever
    (if (i32.eq (local.get $mode) (i32.const 2)) (then (loop $forever (br $forever))))
    ;; 3: recurse without end
    (if (i32.eq (local.get $mode) (i32.const 3)) (then (drop (call $recurse (i32.const 0))) (return)))
    ;; 4: divide by zero
    (if (i32.eq (local.get $mode) (i32.const 4)) (then (drop (i32.div_u (i32.const 1) (local.get $n))) (return)))
    ;; 5: grow memory until refused, then abort the way Rust does
    (if (i32.eq (local.get $mode) (i32.const 5)) (then
      (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
      (unreachable)))
    ;; 6: revert with a message
    (if (i32.eq (local.get $mode) (i32.const 6)) (then (call $revert (i32.const 120) (i32.const 19))))
    ;; 7: pass a pointer outside memory to the host
    (if (i32.eq (local.get $mode) (i32.const 7)) (then
      (call $storage_set (i32.const 100) (i32.const 3) (i32.const 65530) (i32.const 100)) (return)))
    ;; 8: read key back
    (if (i32.eq (local.get $mode) (i32.const 8)) (then
      (local.set $n (call $storage_get (i32.const 100) (i32.const 3) (i32.const 200) (i32.const 64)))
      (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return)))
      (call $set_return (i32.const 200) (local.get $n)) (return)))
  )
)'''

# Calls another contract: args = 20-byte address, 1-byte method length, method, then the call's args.
# Returns one status byte (0 ok, 1 failed) followed by the callee's return value or error message.
PROXY = '''(module
  (import "consortia" "read_args" (func $read_args (param i32 i32) (result i32)))
  (import "consortia" "set_return" (func $set_return (param i32 i32)))
  (import "consortia" "call_contract" (func $call (param i32 i32 i32 i32 i32 i64) (result i32)))
  (import "consortia" "read_result" (func $read_result (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "call") (local $len i32) (local $mlen i32) (local $status i32) (local $rlen i32)
    (local.set $len (call $read_args (i32.const 0) (i32.const 4096)))
    (local.set $mlen (i32.load8_u (i32.const 20)))
    (local.set $status (call $call (i32.const 0) (i32.const 21) (local.get $mlen)
      (i32.add (i32.const 21) (local.get $mlen))
      (i32.sub (local.get $len) (i32.add (i32.const 21) (local.get $mlen))) (i64.const 0)))
    (i32.store8 (i32.const 8191) (local.get $status))
    (local.set $rlen (call $read_result (i32.const 8192) (i32.const 8192)))
    (call $set_return (i32.const 8191) (i32.add (local.get $rlen) (i32.const 1)))))'''


def wat(text: str) -> bytes:
    return wasmtime.wat2wasm(text)


# --- helpers ----------------------------------------------------------------------------------

def deploying_testnet(suite: str = "std", params: dict[str, int] | None = None) -> TestNet:
    """A test net whose user may deploy (genesis deploy rights; the admin's come by default)."""
    net = make_testnet(suite, params=params)
    net.genesis = dataclasses.replace(net.genesis, deployers=(net.suite.address(net.admin.public_bytes),
                                                              net.suite.address(net.user.public_bytes)))
    return net


@pytest.fixture
def net() -> TestNet:
    return deploying_testnet()


@pytest.fixture
def chain(net: TestNet, tmp_path: Path):
    store = ChainStore(tmp_path / "data")
    c = Chain(net.genesis, store, wasm_cache_dir=tmp_path / "wasm-cache")
    yield c
    store.close()


def run(chain: Chain, net: TestNet, tx) -> Receipt:
    chain.submit(tx.encode())
    block = seal(chain, net.validator)
    return chain.store.receipts_at(block.header.height)[-1]


def deploy(chain: Chain, net: TestNet, code: bytes, **extra: object) -> Receipt:
    return run(chain, net, net.tx(to=b"", method="deploy", args={"code": code, **extra}, fuel_limit=DEPLOY_FUEL))


def deployed(chain: Chain, net: TestNet, code: bytes) -> bytes:
    receipt = deploy(chain, net, code)
    assert receipt.status == STATUS_OK, receipt.error
    return msgpack.unpackb(receipt.return_value)["address"]


def call(chain: Chain, net: TestNet, address: bytes, method: str = "run", args: bytes = b"", fuel: int = 1_000_000) -> Receipt:
    tx = net.tx(to=address, method=method, fuel_limit=fuel)
    from dataclasses import replace

    tx = replace(tx, args=args, signature=b"")
    tx = replace(tx, signature=net.suite.sign(net.user.private_bytes, tx.signing_bytes()))
    return run(chain, net, tx)


# --- evidence, end to end ---------------------------------------------------------------------

@pytest.mark.parametrize("suite", ["sm", "std"])
def test_evidence_deploy_record_query(suite: str, tmp_path: Path):
    net = deploying_testnet(suite)
    chain = Chain(net.genesis, ChainStore(tmp_path / "d"), wasm_cache_dir=tmp_path / "wc")
    receipt = deploy(chain, net, EVIDENCE.read_bytes())
    assert receipt.status == STATUS_OK, receipt.error
    out = msgpack.unpackb(receipt.return_value)
    address, code_hash = out["address"], out["code_hash"]
    assert code_hash == net.suite.hash(EVIDENCE.read_bytes())
    assert [e.name for e in receipt.events] == ["ContractDeployed"] and receipt.events[0].contract == REGISTRY_ADDRESS

    h = bytes(range(32))
    args = msgpack.packb({"hash": h, "kind": "data_input", "task_id": "task-7", "metadata": {"rows": 1000}})
    rec = call(chain, net, address, "record", args)
    assert rec.status == STATUS_OK, rec.error
    assert rec.fuel_used > 0 and [e.name for e in rec.events] == ["EvidenceRecorded"]
    got = msgpack.unpackb(chain.query(address, "get", msgpack.packb({"hash": h})))
    assert got["submitter"] == net.suite.address(net.user.public_bytes)
    assert got["task_id"] == "task-7" and got["metadata"] == {"rows": 1000} and got["height"] == chain.height

    dup = call(chain, net, address, "record", args)
    assert dup.status == STATUS_FAILED and "already recorded" in dup.error and dup.events == ()
    assert msgpack.unpackb(chain.query(address, "count", b"")) == 1
    by_task = msgpack.unpackb(chain.query(address, "by_task", msgpack.packb({"task_id": "task-7"})))
    assert by_task["total"] == 1 and by_task["items"][0]["hash"] == h

    info = msgpack.unpackb(chain.query(REGISTRY_ADDRESS, "info", msgpack.packb({"address": address})))
    assert info["code_hash"] == code_hash and info["deployer"] == net.suite.address(net.user.public_bytes)
    assert chain.query(REGISTRY_ADDRESS, "code", msgpack.packb({"address": address})) == msgpack.packb(EVIDENCE.read_bytes())
    chain.store.close()


def test_bad_arguments_and_unknown_methods_fail_cleanly(chain, net):
    address = deployed(chain, net, EVIDENCE.read_bytes())
    bad = call(chain, net, address, "record", b"\xc1\xff")
    assert bad.status == STATUS_FAILED and "not valid msgpack" in bad.error and bad.fuel_used > 0
    not_map = call(chain, net, address, "record", msgpack.packb([1, 2]))
    assert "must be a msgpack map" in not_map.error
    wrong_type = call(chain, net, address, "record", msgpack.packb({"hash": "text", "kind": "x"}))
    assert "argument 'hash' must be bytes" in wrong_type.error
    unknown = call(chain, net, address, "no_such_method", b"")
    assert unknown.status == STATUS_FAILED and "unknown method 'no_such_method'" in unknown.error
    init_again = call(chain, net, address, "init", b"")
    assert "runs only when the contract is deployed" in init_again.error
    assert msgpack.unpackb(chain.query(address, "count", b"")) == 0


def test_queries_cannot_write(chain, net):
    address = deployed(chain, net, EVIDENCE.read_bytes())
    with pytest.raises(ExecutionError, match="read-only"):
        chain.query(address, "record", msgpack.packb({"hash": bytes(32), "kind": "x"}))
    assert msgpack.unpackb(chain.query(address, "count", b"")) == 0


# --- bad code ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("code", "message"),
    [
        (b"\x00asm\x01\x00\x00\x00\xff\xff", "malformed wasm"),
        (b"not wasm at all", "malformed wasm"),
        (wat('(module (memory (export "memory") 1))'), "must export a function 'call'"),
        (wat('(module (func (export "call")))'), "must export its memory"),
        (wat('(module (memory (export "memory") 1) (func (export "call") (param i32)))'), "no parameters"),
        (wat('(module (import "consortia" "launch_missiles" (func)) (memory (export "memory") 1) (func (export "call")))'),
         "unknown host function consortia.launch_missiles"),
        (wat('(module (import "env" "abort" (func)) (memory (export "memory") 1) (func (export "call")))'),
         "not from the host module"),
        (wat('(module (import "consortia" "block_height" (func (result i32))) (memory (export "memory") 1) (func (export "call")))'),
         "wrong signature"),
        (wat('(module (memory (export "memory") 1) (func $s) (start $s) (func (export "call")))'), "start function"),
        (wat('(module (memory (export "memory") 300) (func (export "call")))'), "initial memory or table is over the limits"),
        # memory.fill would move megabytes for one unit of fuel: bulk memory is off.
        (wat('(module (memory (export "memory") 1) (func (export "call") '
             '(memory.fill (i32.const 0) (i32.const 0) (i32.const 65536))))'), "malformed wasm"),
    ],
)
def test_invalid_code_is_refused_at_deploy(chain, net, code: bytes, message: str):
    receipt = deploy(chain, net, code)
    assert receipt.status == STATUS_FAILED and message in receipt.error, receipt.error
    assert receipt.fuel_used > 0 and receipt.events == ()
    assert chain.state.get(code_key(net.suite.hash(code))) is None  # nothing stored
    # The chain carries on: a good deploy right after works.
    assert deploy(chain, net, EVIDENCE.read_bytes()).status == STATUS_OK


def test_deploy_needs_the_deploy_method(chain, net):
    receipt = run(chain, net, net.tx(to=b"", method="install", args={"code": EVIDENCE.read_bytes()}, fuel_limit=DEPLOY_FUEL))
    assert receipt.status == STATUS_FAILED and "must be 'deploy'" in receipt.error


def test_code_over_the_size_limit_is_refused(tmp_path: Path):
    net = deploying_testnet("std", params={"max_code_bytes": 4096})
    chain = Chain(net.genesis, ChainStore(tmp_path / "d"))
    receipt = deploy(chain, net, EVIDENCE.read_bytes())
    assert receipt.status == STATUS_FAILED and "over the limit of 4096" in receipt.error
    chain.store.close()


def test_fuel_limit_above_the_chain_maximum_is_refused(tmp_path: Path):
    net = deploying_testnet("std", params={"max_tx_fuel": 2_000_000})
    chain = Chain(net.genesis, ChainStore(tmp_path / "d"))
    with pytest.raises(InvalidTransaction, match="max_tx_fuel"):
        chain.submit(net.tx(fuel_limit=2_000_001).encode())
    chain.store.close()


# --- bad behaviour at run time ----------------------------------------------------------------

@pytest.fixture
def playground(chain, net) -> bytes:
    return deployed(chain, net, wat(PLAYGROUND))


def test_good_call_writes_and_reads(chain, net, playground):
    ok = call(chain, net, playground, args=b"\x00")
    assert ok.status == STATUS_OK and ok.return_value == b"va"
    assert chain.state.get(playground + b"key") == b"value"
    assert chain.query(playground, "get", b"\x08") == b"value"


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (1, "unreachable"),
        (2, "out of fuel"),
        (3, "recursion too deep"),
        (4, "integer division by zero"),
        (5, f"ran out of memory (limit {MEMORY_LIMIT_BYTES >> 20} MiB)"),
        (6, "refused by contract"),
        (7, "outside its memory"),
    ],
)
def test_failures_end_only_their_transaction(chain, net, playground, mode: int, message: str):
    fuel = 2_000_000
    receipt = call(chain, net, playground, args=bytes([mode]), fuel=fuel)
    assert receipt.status == STATUS_FAILED and message in receipt.error, receipt.error
    assert 0 < receipt.fuel_used <= fuel
    if mode == 2:
        assert receipt.fuel_used == fuel
    assert chain.state.get(playground + b"key") is None  # nothing from the failed call remains
    # The node carries on with the next transaction.
    assert call(chain, net, playground, args=b"\x00").status == STATUS_OK
    assert chain.state.get(playground + b"key") == b"value"


def test_infinite_loop_in_a_query_is_bounded(chain, net, playground):
    with pytest.raises(ExecutionError, match="out of fuel"):
        chain.query(playground, "spin", b"\x02")


# --- contract to contract ---------------------------------------------------------------------

def _proxy_args(target: bytes, method: str, args: bytes) -> bytes:
    return target + bytes([len(method)]) + method.encode() + args


def test_nested_call_success_and_rollback(chain, net):
    evidence = deployed(chain, net, EVIDENCE.read_bytes())
    proxy = deployed(chain, net, wat(PROXY))
    record = msgpack.packb({"hash": b"\x07" * 32, "kind": "document"})
    ok = call(chain, net, proxy, args=_proxy_args(evidence, "record", record), fuel=5_000_000)
    assert ok.status == STATUS_OK and ok.return_value[0] == 0, ok.error
    assert [(e.contract, e.name) for e in ok.events] == [(evidence, "EvidenceRecorded")]
    rec = msgpack.unpackb(chain.query(evidence, "get", msgpack.packb({"hash": b"\x07" * 32})))
    assert rec["submitter"] == proxy  # the caller is the proxy contract...
    assert rec["origin"] == net.suite.address(net.user.public_bytes)  # ...the origin is the signer

    # A failing inner call reports its error to the caller and leaves no trace; the outer call goes on.
    again = call(chain, net, proxy, args=_proxy_args(evidence, "record", record), fuel=5_000_000)
    assert again.status == STATUS_OK and again.return_value[0] == 1
    assert b"already recorded" in again.return_value and again.events == ()
    missing = call(chain, net, proxy, args=_proxy_args(bytes(20), "x", b""), fuel=5_000_000)
    assert missing.return_value[0] == 1 and b"no contract" in missing.return_value
    assert msgpack.unpackb(chain.query(evidence, "count", b"")) == 1


def test_init_runs_at_deploy_only(chain, net):
    code = wat(f'''(module {HEADER}
      (func (export "call")
        (drop (call $read_method (i32.const 0) (i32.const 16)))
        (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x74696e69)) ;; "init"
          (then (call $storage_set (i32.const 100) (i32.const 3) (i32.const 110) (i32.const 5))))))''')
    receipt = deploy(chain, net, code, init_args=b"")
    assert receipt.status == STATUS_OK, receipt.error
    address = msgpack.unpackb(receipt.return_value)["address"]
    assert chain.state.get(address + b"key") == b"value"
    failing_init = deploy(chain, net, wat(PLAYGROUND), init_args=b"\x01")
    assert failing_init.status == STATUS_FAILED and "unreachable" in failing_init.error


# --- determinism and the module cache ---------------------------------------------------------

def test_compiled_modules_come_back_from_the_disk_cache(net, tmp_path: Path):
    chain = Chain(net.genesis, ChainStore(tmp_path / "a"), wasm_cache_dir=tmp_path / "cache")
    address = deployed(chain, net, EVIDENCE.read_bytes())
    assert list((tmp_path / "cache").glob("*.cwasm"))
    chain.store.close()
    fresh = Chain(net.genesis, ChainStore(tmp_path / "a"), wasm_cache_dir=tmp_path / "cache")
    vm = fresh.executor.vm
    assert isinstance(vm, WasmVM)
    assert msgpack.unpackb(fresh.query(address, "count", b"")) == 0
    assert vm.modules.stats.disk_loads == 1 and vm.modules.stats.compiles == 0
    fresh.store.close()


def test_two_nodes_compute_identical_blocks(net, tmp_path: Path):
    """Same transactions, two independent chains: same receipts and state roots, failures included."""
    chains = [Chain(net.genesis, ChainStore(tmp_path / n), wasm_cache_dir=tmp_path / f"{n}-cache") for n in "ab"]
    deploy_tx = net.tx(to=b"", method="deploy", args={"code": wat(PLAYGROUND)}, fuel_limit=DEPLOY_FUEL)
    for c in chains:
        c.submit(deploy_tx.encode())
        seal(c, net.validator)
    address = msgpack.unpackb(chains[0].store.receipts_at(1)[0].return_value)["address"]
    txs = []
    for mode in [0, 1, 2, 3, 4, 5, 6, 7]:
        from dataclasses import replace

        tx = replace(net.tx(to=address, method="run", fuel_limit=3_000_000), args=bytes([mode]))
        txs.append(replace(tx, signature=net.suite.sign(net.user.private_bytes, tx.signing_bytes())))
    for c in chains:
        for tx in txs:
            c.submit(tx.encode())
        seal(c, net.validator)
    a, b = (c.store.get_header(2) for c in chains)
    assert a.state_root == b.state_root and a.receipt_root == b.receipt_root
    assert [r.fuel_used for r in chains[0].store.receipts_at(2)] == [r.fuel_used for r in chains[1].store.receipts_at(2)]
    for c in chains:
        c.store.close()


def test_contract_storage_is_scoped_to_the_contract(chain, net):
    first = deployed(chain, net, wat(PLAYGROUND))
    second = deployed(chain, net, wat(PLAYGROUND))
    assert first != second
    call(chain, net, first, args=b"\x00")
    assert chain.query(second, "get", b"\x08") == b""
    assert chain.state.get(contract_key(first)) is not None


async def test_heavy_queries_run_off_the_event_loop(chain, net, playground):
    """A query that burns all its fuel runs in a worker thread: the loop keeps serving meanwhile."""
    import asyncio

    ticks = 0
    query = asyncio.ensure_future(chain.query_async(playground, "spin", b"\x02"))

    async def count_ticks() -> None:
        nonlocal ticks
        while not query.done():
            ticks += 1
            await asyncio.sleep(0)

    await count_ticks()
    with pytest.raises(ExecutionError, match="out of fuel"):
        await query
    assert ticks > 10
    assert await chain.query_async(playground, "get", b"\x08") == b""  # and normal queries still work


def test_mutated_modules_and_arguments_never_escape_as_exceptions(tmp_path: Path):
    """Random corruptions of a real module and of call arguments: every outcome is a clean ExecutionFailure."""
    import random

    from node.crypto import get_suite
    from node.execution.context import BlockInfo, CallContext, ExecutionFailure, FuelMeter
    from node.state import StateOverlay
    from node.wire import codec

    class Empty:
        def get(self, key: bytes) -> bytes | None:
            return None

    vm = WasmVM(get_suite("std"))
    state = StateOverlay(Empty())

    def ctx(contract: bytes, fuel: int = 5_000_000) -> CallContext:
        return CallContext(state=state, block=BlockInfo(1, 1, "t"), sender=bytes(20), origin=bytes(20), contract=contract,
                           fuel=FuelMeter(fuel))

    rng = random.Random(1234)
    base = bytearray(wat(PLAYGROUND))
    outcomes = {"deployed": 0, "refused": 0}
    for _ in range(150):
        code = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            code[rng.randrange(len(code))] = rng.randrange(256)
        try:
            vm.deploy(ctx(b"", 50_000_000), rng.randbytes(32), codec.encode({"code": bytes(code)}))
            outcomes["deployed"] += 1
        except ExecutionFailure:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0

    evidence = codec.decode(vm.deploy(ctx(b"", 50_000_000), rng.randbytes(32), codec.encode({"code": EVIDENCE.read_bytes()})))["address"]
    methods = ["record", "get", "by_task", "by_submitter", "task_points", "count", "verify", "nope", ""]
    for _ in range(300):
        args = rng.randbytes(rng.randrange(0, 64)) if rng.random() < 0.5 else msgpack.packb(
            {rng.choice(["hash", "kind", "task_id", "limit", "offset", "submitter", "metadata"]): rng.choice(
                [rng.randbytes(rng.randrange(40)), "x" * rng.randrange(200), rng.randrange(-5, 2**40), None, [1, 2], {"a": 1}])
             for _ in range(rng.randrange(4))})
        try:
            vm.call(ctx(evidence), rng.choice(methods), args)
        except ExecutionFailure:
            pass
