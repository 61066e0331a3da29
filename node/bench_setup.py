"""The benchmark network and its transaction kinds, shared by ``consortia bench`` and benchmarks/.

One genesis serves every kind: the committee rates are ``participation 0 / win 1`` so a
``set_param`` proposal passes and executes in its own transaction (the plain system call, see
docs/governance.md), the second admin is the regulator who mints points, and the business
contracts (evidence, DID, catalog, points) are deployed with a priced dataset and one approved
authorization per user, so an authorization use runs catalog -> DID -> points in one transaction.
"""

from __future__ import annotations

import os
import secrets
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from node.config import GENESIS_FILE
from node.crypto import get_suite
from node.devnet import LocalNet, make_local_net
from node.errors import ChainParamError
from node.execution.system.registry import address_of
from node.params import PARAMS, ChainParams, check_consistency, validate_param
from node.sdk import Account, RpcClient
from node.sdk.args import encode_args
from node.sdk.catalog import AccessRequest, Catalog, Dataset, Field
from node.sdk.contracts import Contract
from node.sdk.deployments import deploy_all
from node.sdk.did import Did, verification_method
from node.sdk.governance import param_proposal
from node.sdk.points import Points
from node.sdk.tx import build_transaction

KINDS = ("system_call", "evidence_record", "authorization_use")
COMMITTEE = address_of("committee")
USERS = 4  # admins 2.. are the catalog users; admin 0 owns the contracts, admin 1 is the regulator
BENCH_PARAMS = {"block_tx_limit": 5_000, "min_seal_ms": 50, "block_interval_ms": 200, "consensus_timeout_ms": 5_000,
                "tx_expiry_window": 1_000_000}
EXPIRY = 900_000
FUEL = 5_000_000


def parse_param_overrides(items: list[str], validators: int = 4) -> dict[str, int]:
    """``NAME=VALUE`` chain parameters for the benchmark genesis, checked as a genesis would check
    them (range, and fit with the other limits); a ``ValueError`` with one line otherwise."""
    overrides: dict[str, int] = {}
    for item in items:
        name, sep, text = item.partition("=")
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if not sep or value is None:
            raise ValueError(f"--param wants NAME=INTEGER, got {item!r}")
        try:
            overrides[name.strip()] = validate_param(name.strip(), value)
        except ChainParamError as exc:
            raise ValueError(exc.message) from None
    merged = {name: spec.default for name, spec in PARAMS.items()} | BENCH_PARAMS | overrides
    try:
        check_consistency(ChainParams(**merged), validators)
    except ChainParamError as exc:
        raise ValueError(exc.message) from None
    return overrides


@dataclass
class Targets:
    """Where each kind of transaction goes: deployed contract addresses and one authorization per user."""

    contracts: dict[str, bytes] = field(default_factory=dict)
    auths: list[int] = field(default_factory=list)


def make_bench_net(root: Path, suite: str, *, validators: int, consensus: str = "pbft", verify_workers: int = 0,
                   params: dict[str, int] | None = None) -> LocalNet:
    """Homes for ``validators`` nodes with the benchmark genesis (see the module docstring);
    ``params`` are chain parameters set over ``BENCH_PARAMS``."""
    net = make_local_net(root, suite, validators=validators, admins=2 + USERS, participation_rate=0, win_rate=1,
                         consensus=consensus, verify_workers=verify_workers, params={**BENCH_PARAMS, **(params or {})})
    regulator = get_suite(suite).address(net.admins[1].public_bytes)
    pin_committee(net, roles={"regulator": (regulator,)})
    return net


def pin_committee(net: LocalNet, roles: dict[str, tuple[bytes, ...]] | None = None) -> None:
    """Write the committee (every admin, weight 1, listed explicitly) and the roles the business
    contracts need into each node's genesis file, before the first start."""
    net.genesis = replace(net.genesis, committee=net.genesis.committee_members,
                          roles=dict(roles) if roles is not None else net.genesis.roles)
    for node in net.nodes:
        net.genesis.save(node.home / GENESIS_FILE)


async def setup_contracts(net: LocalNet, net_dir: Path) -> Targets:
    """Deploy the contracts, list a priced dataset, give each user a DID, an approved authorization and points."""
    suite = get_suite(net.suite_name)
    async with RpcClient(net.nodes[0].url) as client:
        owner = await Account.connect(client, net.admins[0])
        regulator = await Account.connect(client, net.admins[1])
        done = await deploy_all(owner, net_dir, ["evidence", "did", "catalog", "points"])
        await Did(Contract(client, done["did"], owner)).create("owner", [verification_method(suite, owner.key.public_bytes)])
        catalog_owner = Catalog(Contract(client, done["catalog"], owner))
        ds = await catalog_owner.register_dataset(Dataset(owner="owner", name="bench", schema=[Field("x", "int")],
                                                          sample_hash=b"\1" * 32, category="bench", level=1,
                                                          share_mode="compute", access="https://owner.example", price=1))
        auths = []
        points = Points(Contract(client, done["points"], regulator))
        for i in range(USERS):
            user = await Account.connect(client, net.admins[2 + i])
            await Did(Contract(client, done["did"], user)).create(f"user-{i}", [verification_method(suite, user.key.public_bytes)])
            catalog = Catalog(Contract(client, done["catalog"], user))
            auth = await catalog.request_access(AccessRequest(dataset=ds, requester=f"user-{i}", purpose="bench",
                                                              quota=1_000_000, until_height=10_000_000))
            await catalog_owner.approve(auth)
            await points.mint(user.address, 10_000_000)
            auths.append(auth)
    return Targets(done, auths)


def sign_kind(suite_name: str, chain_id: str, kind: str, privates: list[bytes], targets: Targets, start: int, count: int,
              expiry: int = EXPIRY) -> list[str]:
    """``count`` signed transactions of ``kind`` as 0x-hex; ``start`` spreads them over senders.
    A top-level function so a process pool can run it."""
    suite = get_suite(suite_name)
    keys = [suite.keypair_from_private(p) for p in privates]
    out = []
    for n in range(start, start + count):
        user = n % USERS
        if kind == "system_call":
            key, to, method = keys[n % len(keys)], COMMITTEE, "propose"
            args = encode_args(param_proposal("block_tx_limit", BENCH_PARAMS["block_tx_limit"] + n % 2))
        elif kind == "evidence_record":
            key, to, method = keys[2 + user], targets.contracts["evidence"], "record"
            args = encode_args({"hash": secrets.token_bytes(32), "kind": "bench"})
        elif kind == "authorization_use":
            key, to, method = keys[2 + user], targets.contracts["catalog"], "use"
            args = encode_args({"auth": targets.auths[user]})
        else:
            raise ValueError(f"unknown transaction kind {kind!r} (choose from {', '.join(KINDS)})")
        tx = build_transaction(suite, key, chain_id=chain_id, to=to, method=method, args=args, fuel_limit=FUEL,
                               expiry_height=expiry)
        out.append("0x" + tx.encode().hex())
    return out


class TxSupply:
    """Pre-signed transactions per kind, signed on every core before a measured window starts
    (signing during it would take CPU from the nodes), and topped up between windows."""

    def __init__(self, net: LocalNet, targets: Targets) -> None:
        self.net = net
        self.targets = targets
        self._ready: dict[str, list[str]] = {}
        self._signed: dict[str, int] = {}

    def ensure(self, kind: str, count: int) -> None:
        ready = self._ready.setdefault(kind, [])
        missing = count - len(ready)
        if missing <= 0:
            return
        privates = [k.private_bytes for k in self.net.admins]
        first = self._signed.get(kind, 0)
        chunk = 2_000
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            jobs = [pool.submit(sign_kind, self.net.suite_name, self.net.genesis.chain_id, kind, privates, self.targets,
                                first + s, min(chunk, missing - s)) for s in range(0, missing, chunk)]
            for job in jobs:
                ready.extend(job.result())
        self._signed[kind] = first + missing

    def take(self, kind: str, count: int) -> list[str]:
        ready = self._ready.setdefault(kind, [])
        out, self._ready[kind] = ready[:count], ready[count:]
        return out

    def available(self, kind: str) -> int:
        return len(self._ready.get(kind, []))
