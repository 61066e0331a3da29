"""``consortia demo``, the business flows: the five-step rights flow paid in points, a collaboration
task through all its phases with an escrow settlement, the refusals a consortium relies on, and
the regulator's observer reading the same contract state.

Every printed fact is read back from the chain; the parties are set up in ``demo_parties``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from node.cli.common import CliError
from node.cli.demo_parties import Consortium, pass_by_vote, short
from node.errors import ConsortiaError
from node.sdk.catalog import AccessRequest, Dataset, Field
from node.sdk.client import RpcClient, RpcError
from node.sdk.contracts import Contract
from node.sdk.did import Service, verification_method
from node.sdk.evidence import TASK_POINTS, Evidence
from node.sdk.rights import Issue
from node.sdk.task import PHASES, TaskSpec, commitment

PRICE = 5  # points per use of the dataset
MINTED = 100
TASK_ID = "credit-model-2026"
ALGORITHM = "logreg-v1"


async def balances(c: Consortium, label: str) -> None:
    bank, hospital = await asyncio.gather(c.points().balance(c.address("bank")), c.points().balance(c.address("hospital")))
    print(f"    points {label}: bank {bank}, hospital {hospital}")


async def rights_flow(c: Consortium) -> tuple[int, int]:
    """The five steps; returns the dataset and the authorization ids."""
    balance = await c.points("regulator").mint(c.address("bank"), MINTED, memo="demo: onboarding grant")
    print(f"    the regulator minted {MINTED} points to the bank: its balance {balance}, supply {await c.points().supply()}")
    await balances(c, "before")
    code = c.suite.hash(b"logistic regression, compiled reproducibly")
    await c.catalog("vendor").register_algorithm(ALGORITHM, code, "rustc 1.63 --release", description="credit scoring")
    algo = await c.catalog().algorithm(ALGORITHM)
    if algo is None:
        raise CliError(f"algorithm {ALGORITHM} is not on chain")
    print(f"    vendor registered algorithm {ALGORITHM}: code 0x{algo['code_hash'].hex()[:16]}.. compiler {algo['compiler']!r}")
    sample = b"patient,visits\nx01,3\nx02,7\n"
    ds = await c.catalog("hospital").register_dataset(Dataset(
        owner="hospital", name="Outpatient visits 2025", schema=[Field("patient", "string", 32), Field("visits", "int")],
        sample_hash=c.suite.hash(sample), category="health", level=3, share_mode="compute",
        access="https://hospital.example/datasets/outpatient-2025", credential_schema="org-license", price=PRICE))
    d = await c.catalog().dataset(ds)
    if d is None:
        raise CliError(f"dataset {ds} is not on chain")
    print(f"    (1) hospital registered dataset #{ds} v{d['version']} owner {d['owner']}: category {d['category']}, level "
          f"{d['level']}, share mode {d['share_mode']}, needs a {d['credential_schema']!r} credential, {d['price']} points per use")
    found = await c.catalog().search(category="health")
    print(f"    (2) bank searched the catalog for 'health': {[(d['id'], d['name']) for d in found['items']]}")
    head = await c.client.block_number()
    auth = await c.catalog("bank").request_access(AccessRequest(
        dataset=ds, requester="bank", purpose="credit risk model", quota=3, until_height=head + 10_000, algorithms=[ALGORITHM]))
    a = await _authorization(c, auth)
    print(f"    (3) bank requested access as {a['requester']} for {a['purpose']!r} with {a['algorithms']}, quota {a['quota']}: "
          f"authorization #{auth} {a['status']}")
    approved = await c.catalog("hospital").approve(auth, quota=a["quota"] - 1)
    print(f"    (4) hospital approved #{auth} with quota {approved['quota']} (asked {a['quota']}): {approved['status']}")
    for _ in range(2):
        used = await c.catalog("bank").fetch(auth, algorithm=ALGORITHM)
        print(f"    (5) bank fetched: use {used['use']}, {used['remaining']} left, access {used['access']}, "
              f"paid {used['price']} to {short(used['payout'])}")
    await balances(c, "after two uses")
    a = await _authorization(c, auth)
    try:
        await c.catalog("bank").fetch(auth, algorithm=ALGORITHM)
        raise CliError("a use beyond the quota was accepted")
    except ConsortiaError as exc:
        print(f"    another use (used {a['used']} of quota {a['quota']}, status {a['status']}) is refused: {exc.message}")
    await balances(c, "unchanged")
    return ds, auth


async def collaboration(c: Consortium, ds: int, other: dict[str, Any]) -> None:
    """A task over all phases, its evidence checked on another node, then an escrow settlement."""
    t_auth = await c.catalog("bank").request_access(AccessRequest(
        dataset=ds, requester="bank", purpose="credit risk model", quota=1, scope="task", task_id=TASK_ID, algorithms=[ALGORITHM]))
    await c.catalog("hospital").approve(t_auth)
    await c.task("bank").create(TaskSpec(id=TASK_ID, initiator="bank", participants=["bank", "hospital"], receivers=["bank"],
                                         datasets=[t_auth], algorithm=ALGORITHM, purpose="credit risk model"))
    record = await _record(c)
    print(f"    task {TASK_ID} created on task-scoped authorization #{t_auth}: {record['state']}, phase {record['phase']}")
    salts: dict[tuple[str, str], tuple[bytes, bytes]] = {}
    for phase in PHASES:
        for who in ("bank", "hospital"):
            artefact = c.suite.hash(f"{who}'s {phase} output".encode())
            value, salt = commitment(c.suite, artefact)
            salts[(phase, who)] = (salt, artefact)
            await c.task(who).ack(TASK_ID, who, phase, value)
        record = await _record(c)
        print(f"    {phase:<8} acknowledged by bank and hospital with salted commitments -> phase {record['phase']}")
    model = b"credit model weights v1"
    await c.task("bank").receive(TASK_ID, "bank", c.suite.hash(model))
    record = await _record(c)
    print(f"    bank confirmed receipt of the result (hash 0x{c.suite.hash(model).hex()[:16]}..): task {record['state']}")
    salt, artefact = salts[("compute", "hospital")]
    ok = await c.task().verify_commitment(TASK_ID, "compute", "hospital", salt, artefact)
    print(f"    the hospital reveals its compute salt: verify_commitment {ok}")
    name = other["name"]
    async with RpcClient(other["rpc_url"]) as remote_client:
        await catch_up(remote_client, await c.client.block_number())
        evidence = Evidence(Contract(remote_client, c.contracts["evidence"]))
        remote = await _record(c, remote_client)
        for kind in TASK_POINTS:
            digest = remote["evidence"][kind]
            verified = await evidence.verify(digest, c.contracts["task"])
            print(f"    {name}: evidence {kind:<15} 0x{digest.hex()[:16]}.. recorded by the task contract: {verified}")
        print(f"    {name}: task points complete {(await evidence.task_points(TASK_ID))['complete']}")
    await balances(c, "after the task's use")
    head = await c.client.block_number()
    escrow = await c.points("bank").escrow_lock(c.address("hospital"), 20, head + 1000, ref=TASK_ID)
    e = await c.points().escrow(escrow)
    if e is None:
        raise CliError(f"escrow {escrow} is not on chain")
    print(f"    escrow #{escrow} {e['state']}: {e['amount']} points from {short(e['payer'])} to {short(e['payee'])} "
          f"(ref {e['ref']}), refundable after height {e['timeout_height']}")
    await balances(c, "with 20 locked")
    await c.points("hospital").escrow_deliver(escrow, c.suite.hash(model))
    try:
        await c.points("bank").escrow_confirm(escrow, c.suite.hash(b"something else"))
    except ConsortiaError as exc:
        print(f"    confirming a different result is refused: {exc.message}")
    done = await c.points("bank").escrow_confirm(escrow, c.suite.hash(model))
    print(f"    hospital delivered the result hash, bank confirmed the same hash: escrow {done['state']}")
    await balances(c, "settled")


async def rights_certificate(c: Consortium, ds: int) -> int:
    """The regulator certifies the hospital's usage right over the dataset; the bank buys it for points."""
    await c.rights("regulator").create_template("usage", "Data usage right", "usage", terms="use for the stated scope only")
    cert = await c.rights("regulator").issue(Issue(template="usage", holder="hospital", source=f"catalog dataset #{ds}",
                                                    scope="credit scoring", profit_share_bp=2000,
                                                    beneficiary=c.regulator.address))
    listed = await c.rights("hospital").list_for_sale(cert, 10)
    print(f"    certificate #{cert} ({listed['rights_type']}, {listed['source']}) held by {listed['holder']}, "
          f"{listed['profit_share_bp'] / 100:g}% profit share to the regulator, listed for {listed['price']} points")
    bought = await c.rights("bank").buy(cert, "bank")
    history = await c.rights().history(cert)
    regulator = await c.points().balance(c.regulator.address)
    print(f"    the bank bought it: holder {bought['holder']}; audit trail {[e['action'] for e in history['items']]}; "
          f"regulator's share {regulator} points")
    await balances(c, "after the sale")
    return cert


async def suspension(c: Consortium) -> None:
    """A party the consortium suspends: frozen by vote, its next transaction refused at the pool."""
    broker = c.parties["broker"]
    await c.did("broker").create("broker", [verification_method(c.suite, broker.key.public_bytes)],
                                 services=[Service("shop", "DataShop", "https://broker.example")])
    print(f"    the broker {short(broker.address)} registered did:consortia:broker")
    await pass_by_vote(c, "freeze", {"address": broker.address}, reason="demo: resold data outside its authorization")
    print(f"    acl_roles: frozen {(await c.client.call('acl_roles', '0x' + broker.address.hex()))['frozen']}")
    try:
        tx = await broker.build(c.contracts["did"], "update", {"did": "did:consortia:broker", "services": []})
        await c.client.send_tx(tx)
        raise CliError("a frozen account's transaction was accepted")
    except RpcError as exc:
        print(f"    its next transaction is refused at the pool: [{exc.code}] {exc.message}")


async def regulator_reads(c: Consortium, observer_url: str, auth: int, cert: int) -> None:
    """The regulator's observer answers the same as validator-0, from its own copy of the state."""
    async with RpcClient(observer_url) as obs:
        await catch_up(obs, await c.client.block_number())
        height = await obs.block_number()
        await catch_up(c.client, height)
        questions: list[tuple[str, Any]] = [
            ("catalog.uses(auth)", lambda cl: c.catalog(client=cl).uses(auth)),
            ("points.balance(bank)", lambda cl: c.points(client=cl).balance(c.address("bank"))),
            ("task.state", lambda cl: _task_state(c, cl)),
            ("did.credentials_of(bank)", lambda cl: c.did(client=cl).credentials_of("bank")),
            ("rights.history(cert)", lambda cl: c.rights(client=cl).history(cert)),
        ]
        uses = await c.catalog(client=obs).uses(auth)
        for use in uses["items"]:
            print(f"    observer reads the use log: authorization #{use['auth']} use {use['use']} by {use['requester']} "
                  f"(signer {short(use['caller'])}) with {use['algorithm']} at height {use['height']}")
        for label, ask in questions:
            mine, theirs = await ask(c.client), await ask(obs)
            print(f"    {label:<26} observer == validator-0: {mine == theirs}")
            if mine != theirs:
                raise CliError(f"the observer answers {label} differently")


async def _task_state(c: Consortium, client: RpcClient) -> Any:
    record = await _record(c, client)
    return record["state"], record["phase"], record["evidence"]


async def _authorization(c: Consortium, auth: int) -> dict[str, Any]:
    a = await c.catalog().authorization(auth)
    if a is None:
        raise CliError(f"authorization {auth} is not on chain")
    return a


async def _record(c: Consortium, client: RpcClient | None = None) -> dict[str, Any]:
    record = await c.task(client=client).get(TASK_ID)
    if record is None:
        raise CliError(f"task {TASK_ID} is not on chain")
    return record


async def catch_up(client: RpcClient, height: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while await client.block_number() < height:
        if time.monotonic() > deadline:
            raise CliError(f"{client.url} did not reach height {height}")
        await asyncio.sleep(0.2)
