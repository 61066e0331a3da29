"""The chain the contract target calls: the six business contracts deployed by real transactions
on a one-validator chain, with a little state (a DID, a dataset, an approved access request,
minted points) so fuzzed calls get past "not found", and the system contracts beside them.

Inputs are executed as the next block's only transaction and never committed, so every input
sees the same state. Built once per process in a temporary directory (removed at exit).
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from node.crypto.base import KeyPair
from node.execution.system.registry import system_contracts
from node.wire.types import STATUS_OK
from tests.unit.contract_chain import DIST, ContractChain
from tests.unit.test_contract_fuzz import VALID

BUSINESS = ("did", "catalog", "points", "task", "rights", "evidence")
SOURCES = DIST.parent
ACCOUNTS = ("admin", "user", "issuer", "regulator", "provider")
ROLES = {"credential_issuer": ["issuer"], "regulator": ["regulator"], "algorithm_provider": ["provider"]}


@dataclass(frozen=True)
class Callee:
    """A contract a fuzzed transaction may call: its name, address and the methods it declares."""

    name: str
    address: bytes
    methods: tuple[str, ...]
    business: bool  # a WASM contract of contracts_wasm/ (else a native system contract)


@dataclass
class ContractFixture:
    cc: ContractChain
    callees: tuple[Callee, ...]
    senders: tuple[KeyPair, ...]
    codes: tuple[bytes, ...]  # the business contracts' wasm, for fuzzed deployments
    setup_ok: int  # setup calls that succeeded (the fixture's own check that it made state)


def declared_methods(name: str) -> tuple[str, ...]:
    """A business contract's methods, as its ``contract!`` table in ``src/lib.rs`` names them."""
    return tuple(re.findall(r'"(\w+)" =>', (SOURCES / name / "src" / "lib.rs").read_text()))


@cache
def contract_chain() -> ContractFixture:
    root = Path(tempfile.mkdtemp(prefix="consortia-fuzz-contracts-"))
    atexit.register(shutil.rmtree, root, True)
    cc = ContractChain.open(root, names=("issuer", "regulator", "provider"), roles=ROLES)
    evidence = cc.deploy("evidence")
    did = cc.deploy("did")
    catalog = cc.deploy("catalog", {"did": did})
    points = cc.deploy("points", {"catalog": catalog})
    task = cc.deploy("task", {"did": did, "catalog": catalog, "evidence": evidence})
    rights = cc.deploy("rights", {"did": did, "points": points})
    addresses = {"did": did, "catalog": catalog, "points": points, "task": task, "rights": rights, "evidence": evidence}
    user = cc.address("user")
    setup = [
        ("user", did, "create", {**VALID, "controller": user}),
        ("provider", did, "create", {**VALID, "did": "did:consortia:p", "controller": cc.address("provider")}),
        ("user", catalog, "register_dataset", {**VALID, "schema": [{"name": "x", "type": "int"}]}),
        ("user", catalog, "request_access", {**VALID, "task_id": None}),
        ("user", catalog, "approve", VALID),
        ("regulator", points, "mint", {**VALID, "to": user, "amount": 1_000}),
        ("user", evidence, "record", {**VALID, "kind": "configuration"}),
        ("provider", catalog, "register_algorithm", {**VALID, "id": "a", "name": "a", "owner": "did:consortia:p"}),
        ("user", task, "create", {**VALID, "id": "t1", "initiator": VALID["did"]}),
    ]
    ok = sum(cc.send(who, to, method, args).status == STATUS_OK for who, to, method, args in setup)
    callees = [Callee(name, addresses[name], declared_methods(name), True) for name in BUSINESS]
    callees += [Callee(c.name, c.address, tuple(sorted(c.methods)), False) for c in system_contracts()]
    return ContractFixture(cc, tuple(callees), tuple(cc.keys[a] for a in ACCOUNTS),
                           tuple((DIST / f"{name}.wasm").read_bytes() for name in BUSINESS), ok)


__all__ = ["BUSINESS", "Callee", "ContractFixture", "contract_chain", "declared_methods"]
