"""``consortia demo``, the consortium's parties: roles granted by vote, the business contracts
deployed, and two institutions with DIDs, a credential and an off-chain mutual authentication.

Every fact printed here is read back from the chain (or, for the session key, computed by both
sides of the handshake); nothing is assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.cli.common import CliError
from node.cli.contractset import deployer_key_path
from node.config import load_key
from node.crypto.base import CryptoSuite, KeyPair
from node.execution.system.committee import EXECUTED, OPEN
from node.sdk import didauth
from node.sdk.catalog import Catalog
from node.sdk.client import Account, RpcClient
from node.sdk.contracts import Contract
from node.sdk.deployments import BUILTINS, deploy_all
from node.sdk.did import Did, Service, did_of, verification_method
from node.sdk.governance import Governance, Submitted
from node.sdk.points import Points
from node.sdk.rights import Rights
from node.sdk.task import Task

# The parties the flows need, beyond the validators' organisations and the regulator.
PARTIES = {
    "bank": "a bank, the data user",
    "hospital": "a hospital, the data owner",
    "certifier": "a certification body (credential issuer)",
    "vendor": "an algorithm vendor (algorithm provider)",
    "broker": "a data broker the consortium will suspend",
}
GRANTS = (("certifier", "credential_issuer"), ("vendor", "algorithm_provider"))


def short(address: bytes) -> str:
    return f"0x{address.hex()[:12]}.."


@dataclass
class Consortium:
    """What the business steps share: one validator's client, the keys, the deployed contracts."""

    root: Path
    client: RpcClient
    suite: CryptoSuite
    members: list[Account]  # the validator organisations' admins: the committee
    regulator: Account  # the observer organisation's admin (role set by net init)
    parties: dict[str, Account] = field(default_factory=dict)
    contracts: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    async def connect(cls, root: Path, client: RpcClient, nodes: list[dict[str, Any]]) -> Consortium:
        suite = (await Account.connect(client, load_key(root / nodes[0]["home"] / "admin.key"))).suite
        members = [await Account.connect(client, load_key(root / n["home"] / "admin.key"))
                   for n in nodes if n["role"] == "validator" and not n.get("added")]
        observer = next(n for n in nodes if n["role"] == "observer")
        regulator = await Account.connect(client, load_key(root / observer["home"] / "admin.key"))
        parties = {name: await Account.connect(client, suite.generate_keypair()) for name in PARTIES}
        return cls(root, client, suite, members, regulator, parties)

    def key(self, name: str) -> KeyPair:
        return self.parties[name].key

    def address(self, name: str) -> bytes:
        return self.parties[name].address

    def bound(self, name: str, as_: str | None = None, client: RpcClient | None = None) -> Contract:
        """Contract ``name`` signed by party ``as_`` (or read-only), over ``client`` (default: validator-0)."""
        account = None
        if as_ == "regulator":
            account = self.regulator
        elif as_ is not None:
            account = self.parties[as_]
        return Contract(client or self.client, self.contracts[name], account)

    def did(self, as_: str | None = None, client: RpcClient | None = None) -> Did:
        return Did(self.bound("did", as_, client))

    def catalog(self, as_: str | None = None, client: RpcClient | None = None) -> Catalog:
        return Catalog(self.bound("catalog", as_, client))

    def points(self, as_: str | None = None, client: RpcClient | None = None) -> Points:
        return Points(self.bound("points", as_, client))

    def task(self, as_: str | None = None, client: RpcClient | None = None) -> Task:
        return Task(self.bound("task", as_, client))

    def rights(self, as_: str | None = None, client: RpcClient | None = None) -> Rights:
        return Rights(self.bound("rights", as_, client))


async def pass_by_vote(c: Consortium, type_: str, payload: dict[str, Any], reason: str) -> Submitted:
    """The first member proposes, the others vote yes until the proposal closes; it must execute."""
    first = await Governance(c.client, c.members[0]).propose(type_, payload, reason=reason)
    last, votes = first, 1
    for member in c.members[1:]:
        if last.status != OPEN:
            break
        last = await Governance(c.client, member).vote(first.id, True)
        votes += 1
    if last.status != EXECUTED:
        raise CliError(f"proposal #{first.id} ({type_}) ended {last.status}")
    shown = {k: short(v) if isinstance(v, bytes) else v for k, v in payload.items()}
    print(f"    proposal #{first.id} {type_} {shown}: {votes} of {len(c.members)} organisations voted yes, {last.status}")
    return last


async def grant_roles(c: Consortium) -> None:
    gov = Governance(c.client)
    for name, role in GRANTS:
        await pass_by_vote(c, "grant_role", {"address": c.address(name), "role": role},
                           reason=f"demo: {PARTIES[name]}")
    for name, _ in GRANTS:
        held = await gov.roles(c.address(name))
        print(f"    acl_roles {name:<9} {short(c.address(name))} roles {held['roles']}")
    held = await gov.roles(c.regulator.address)
    print(f"    acl_roles regulator {short(c.regulator.address)} roles {held['roles']} (observer-0's organisation, "
          f"set by net init; committee weight {held['committee_weight']})")
    if "regulator" not in held["roles"]:
        raise CliError("the observer organisation's admin does not hold the regulator role")


async def deploy_contracts(c: Consortium) -> None:
    key_path = deployer_key_path(c.root)
    deployer = await Account.connect(c.client, load_key(key_path))
    print(f"    deployer {short(deployer.address)} ({key_path.parent.name}'s organisation admin, deploy right "
          f"{(await Governance(c.client).roles(deployer.address))['can_deploy']})")
    c.contracts = await deploy_all(deployer, c.root, list(BUILTINS), log=lambda m: None)
    for name in BUILTINS:
        info = await Contract(c.client, c.contracts[name]).info()
        code = "?" if info is None else info["code_hash"].hex()[:16]
        print(f"    {name:<9} 0x{c.contracts[name].hex()}  code 0x{code}..")
    catalog = await Contract(c.client, c.contracts["catalog"]).query("config")
    points = await Contract(c.client, c.contracts["points"]).query("config")
    linked = {"catalog->points": catalog.get("points") == c.contracts["points"],
              "catalog->task": catalog.get("task") == c.contracts["task"],
              "points settles for rights": c.contracts["rights"] in points.get("settlers", [])}
    print(f"    addresses recorded in {c.root.name}/contracts.json; links read back from the chain: {linked}")
    if not all(linked.values()):
        raise CliError(f"the contract set is not linked: {linked}")


async def identities(c: Consortium) -> None:
    for name in ("hospital", "bank", "certifier"):
        await c.did(name).create(name, [verification_method(c.suite, c.key(name).public_bytes)],
                                 services=[Service("worker", "PrivacyWorker", f"https://{name}.example/worker")])
        doc = await c.did().resolve(name)
        print(f"    {doc['didDocument']['id']:<26} controller {short(c.address(name))}  "
              f"authentication {doc['didDocument']['authentication']}")
    await c.did("certifier").register_issuer("certifier", "Financial licensing body")
    licence = f"banking licence of {did_of('bank')}, 2026".encode()
    digest = c.suite.hash(licence)
    seq = await c.did("certifier").issue_credential(digest, "certifier", "bank", "org-license")
    status = await c.did().credential_status(digest)
    valid = await c.did().has_valid_credential("bank", "org-license", "certifier")
    print(f"    certifier registered as issuer; credential 0x{digest.hex()[:16]}.. (org-license) anchored for the bank, "
          f"seq {seq}: status {status['status']}, has_valid_credential {valid}")
    # Off-chain mutual authentication: each side checks the other's proof against the DID document
    # the chain resolves, and both derive a session key that never leaves them.
    bank = didauth.Initiator(c.suite, did_of("bank"), c.key("bank"))
    hospital = didauth.Responder(c.suite, did_of("hospital"), c.key("hospital"))
    reply = hospital.reply(didauth.Hello.decode(bank.hello.encode()))
    confirm, bank_session = bank.finish(didauth.Reply.decode(reply.encode()), await c.did().resolve("hospital"))
    hospital_session = hospital.accept(didauth.Confirm.decode(confirm.encode()), await c.did().resolve("bank"))
    print(f"    DID handshake (3 messages, off chain): bank authenticated {bank_session.peer_did}, hospital authenticated "
          f"{hospital_session.peer_did}")
    print(f"    session key hash: bank 0x{c.suite.hash(bank_session.key).hex()[:16]}.. hospital "
          f"0x{c.suite.hash(hospital_session.key).hex()[:16]}.. same: {bank_session.key == hospital_session.key}")
    if bank_session.key != hospital_session.key:
        raise CliError("the two sides derived different session keys")
