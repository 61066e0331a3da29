"""Hostile arguments against every business contract: each failure must be a revert with a message, never a trap."""

from __future__ import annotations

import random
import re
from pathlib import Path

import msgpack

from node.crypto import get_suite
from node.execution.context import BlockInfo, CallContext, ExecutionFailure, FuelMeter, OutOfFuel, Revert
from node.state import StateOverlay
from node.vm import WasmVM
from node.wire import codec

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts_wasm"
KEYS = ["did", "id", "owner", "requester", "subject", "issuer", "holder", "buyer", "to", "participant", "receiver", "task",
        "auth", "dataset", "cert", "hash", "schema", "name", "category", "level", "quota", "scope", "until_height", "task_id",
        "algorithms", "algorithm", "purpose", "verification_methods", "authentication", "services", "controller", "address",
        "amount", "payee", "payer", "timeout_height", "commitment", "phase", "participants", "receivers", "datasets", "steps",
        "offset", "limit", "price", "profit_share_bp", "beneficiary", "template", "rights_type", "source", "version", "by",
        "score", "account", "contract", "expires_ms", "sample_hash", "share_mode", "access", "code_hash", "compiler", "salt", "value"]


def _methods(name: str) -> list[str]:
    return re.findall(r'"(\w+)" =>', (CONTRACTS / name / "src" / "lib.rs").read_text())


def _value(rng: random.Random, depth: int = 0) -> object:
    choices = [
        lambda: rng.randbytes(rng.choice([0, 1, 19, 20, 21, 32, 65, 200])),
        lambda: rng.choice(["", "did:consortia:a", "did:consortia:" + "x" * 70, "x" * rng.randrange(2000), "prepare", "task",
                            "window", "\x00\x01", "Ed25519VerificationKey2020"]),
        lambda: rng.choice([0, 1, 5, 2**63, 2**64 - 1, -1, -(2**63)]),
        lambda: None,
        lambda: rng.choice([True, False]),
    ]
    if depth < 3:
        choices.append(lambda: [_value(rng, depth + 1) for _ in range(rng.randrange(4))])
        choices.append(lambda: {rng.choice(KEYS): _value(rng, depth + 1) for _ in range(rng.randrange(4))})
    return rng.choice(choices)()


D = "did:consortia:a"
# A plausible value for every argument name: calls start from these and get one to three of them spoiled,
# so they reach the checks behind "missing argument".
VALID: dict[str, object] = {
    "did": D, "id": 1, "owner": D, "requester": D, "subject": D, "issuer": D, "holder": D, "buyer": D, "to": b"\x02" * 20,
    "participant": D, "receiver": D, "task": "t1", "auth": 1, "dataset": 1, "cert": 1, "hash": b"\x05" * 32, "schema": "s",
    "name": "n", "category": "c", "level": 1, "quota": 3, "scope": "window", "until_height": 100, "task_id": "t1",
    "algorithms": [], "algorithm": "a", "purpose": "p",
    "verification_methods": [{"id": "k", "type": "Ed25519VerificationKey2020", "public_key": b"\x07" * 32}],
    "authentication": ["k"], "services": [], "controller": b"\x01" * 20, "address": b"\x01" * 20, "amount": 1,
    "payee": b"\x02" * 20, "payer": b"\x01" * 20, "timeout_height": 100, "commitment": b"\x06" * 32, "phase": "prepare",
    "participants": [D], "receivers": [D], "datasets": [1], "steps": [{"id": "s"}], "offset": 0, "limit": 10, "price": 1,
    "profit_share_bp": 100, "beneficiary": b"\x03" * 20, "template": "tp", "rights_type": "usage", "source": "s",
    "version": 1, "by": "uses", "score": 3, "account": b"\x01" * 20, "contract": b"\x04" * 20, "expires_ms": 0,
    "sample_hash": b"\x08" * 32, "share_mode": "compute", "access": "https://x", "code_hash": b"\x09" * 32,
    "compiler": "rustc", "salt": b"\x01" * 16, "value": b"\x02" * 32,
}


def test_business_contracts_revert_on_hostile_input():
    class Empty:
        def get(self, key: bytes) -> bytes | None:
            return None

    vm = WasmVM(get_suite("std"))
    state = StateOverlay(Empty())
    rng = random.Random(2026)

    def ctx(contract: bytes, fuel: int = 20_000_000) -> CallContext:
        return CallContext(state=state, block=BlockInfo(10, 10_000, "t"), sender=b"\x01" * 20, origin=b"\x01" * 20,
                           contract=contract, fuel=FuelMeter(fuel))

    def deploy(name: str, init: object = None) -> bytes:
        args: dict[str, object] = {"code": (CONTRACTS / "dist" / f"{name}.wasm").read_bytes()}
        if init is not None:
            args["init_args"] = msgpack.packb(init)
        return codec.decode(vm.deploy(ctx(b"", 200_000_000), rng.randbytes(32), codec.encode(args)))["address"]

    evidence = deploy("evidence")
    did = deploy("did")
    catalog = deploy("catalog", {"did": did})
    points = deploy("points", {"catalog": catalog})
    task = deploy("task", {"did": did, "catalog": catalog, "evidence": evidence})
    rights = deploy("rights", {"did": did, "points": points})
    targets = {"did": did, "catalog": catalog, "points": points, "task": task, "rights": rights}
    # Some state to get past "not found": a DID the sender controls, a dataset, an approved authorization.
    vm.call(ctx(did), "create", msgpack.packb(VALID))
    vm.call(ctx(catalog), "register_dataset", msgpack.packb({**VALID, "schema": [{"name": "x", "type": "int"}]}))
    vm.call(ctx(catalog), "request_access", msgpack.packb({**VALID, "task_id": None}))
    vm.call(ctx(catalog), "approve", msgpack.packb(VALID))
    reverts, succeeded = 0, 0
    for _ in range(800):
        name = rng.choice(list(targets))
        method = rng.choice(_methods(name) + ["nope"])
        if rng.random() < 0.1:
            args = rng.randbytes(rng.randrange(0, 40))
        elif rng.random() < 0.3:
            args = msgpack.packb({rng.choice(KEYS): _value(rng) for _ in range(rng.randrange(6))})
        else:
            spoiled = dict(VALID)
            for key in rng.sample(KEYS, rng.randrange(1, 4)):
                spoiled[key] = _value(rng)
            args = msgpack.packb(spoiled)
        try:
            vm.call(ctx(targets[name]), method, args)
            succeeded += 1
        except OutOfFuel:
            raise AssertionError(f"{name}.{method} ran out of fuel on {args!r}") from None
        except Revert as exc:
            reverts += 1
            assert "panicked" not in exc.message, f"{name}.{method}: {exc.message}"
        except ExecutionFailure as exc:
            # "init cannot be called" and friends come from the runtime, not a trap inside the contract.
            assert "trap" not in exc.message.lower() and "wasm" not in exc.message.lower(), f"{name}.{method}: {exc.message}"
    assert reverts > 300 and succeeded > 50
