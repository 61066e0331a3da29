"""``consortia did create|update|deactivate|resolve|list|register-issuer|remove-issuer|issue|revoke|status|credentials``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from node.cli.bizcommon import Session, add_target, hex_bytes, read_file, run
from node.cli.common import CliError, parse_address
from node.config import load_key
from node.sdk.did import Did, Service, did_of, verification_method


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("did", help="decentralised identifiers (did:consortia), issuers and credentials")
    ds = p.add_subparsers(dest="did_cmd", required=True, metavar="COMMAND")

    c = ds.add_parser("create", help="create a DID whose key is the signer's own key")
    add_target(c, signed=True)
    c.add_argument("--id", required=True, help="method-specific id, or the whole did:consortia:<id>")
    c.add_argument("--service", action="append", default=[], metavar="ID,TYPE,ENDPOINT", help="a service endpoint (repeatable)")
    c.add_argument("--controller", default=None, help="account that controls the DID (default: the signer)")
    c.set_defaults(func=did_create)

    u = ds.add_parser("update", help="change services, controller or key (controller only)")
    add_target(u, signed=True)
    u.add_argument("--id", required=True)
    u.add_argument("--service", action="append", default=None, metavar="ID,TYPE,ENDPOINT", help="replace the services (repeatable)")
    u.add_argument("--no-services", action="store_true", help="remove every service")
    u.add_argument("--controller", default=None, help="hand control to this account")
    u.add_argument("--rotate-key", type=Path, default=None, help="replace the DID's key by this key file's public key")
    u.set_defaults(func=did_update)

    d = ds.add_parser("deactivate", help="deactivate a DID for good (controller only)")
    add_target(d, signed=True)
    d.add_argument("--id", required=True)
    d.set_defaults(func=did_deactivate)

    r = ds.add_parser("resolve", help="the W3C DID document (JSON-RPC did_resolve)")
    add_target(r, signed=False)
    r.add_argument("--id", required=True)
    r.set_defaults(func=did_resolve)

    lst = ds.add_parser("list", help="DIDs an account controls")
    add_target(lst, signed=False)
    lst.add_argument("--controller", required=True)
    lst.add_argument("--offset", type=int, default=0)
    lst.add_argument("--limit", type=int, default=100)
    lst.set_defaults(func=did_list)

    ri = ds.add_parser("register-issuer", help="register a DID as credential issuer (needs the credential_issuer role)")
    add_target(ri, signed=True)
    ri.add_argument("--id", required=True)
    ri.add_argument("--name", default="")
    ri.set_defaults(func=did_register_issuer)

    rm = ds.add_parser("remove-issuer", help="remove an issuer (its controller or a regulator)")
    add_target(rm, signed=True)
    rm.add_argument("--id", required=True)
    rm.set_defaults(func=did_remove_issuer)

    i = ds.add_parser("issue", help="anchor a credential by hash")
    add_target(i, signed=True)
    i.add_argument("--issuer", required=True)
    i.add_argument("--subject", required=True)
    i.add_argument("--schema", required=True)
    what = i.add_mutually_exclusive_group(required=True)
    what.add_argument("--file", type=Path, help="the credential document: its chain hash is anchored")
    what.add_argument("--hash", help="0x-prefixed hash to anchor")
    i.add_argument("--expires-ms", type=int, default=0, help="expiry, ms since the epoch (0: never)")
    i.set_defaults(func=did_issue)

    rv = ds.add_parser("revoke", help="revoke a credential (its issuer or a regulator)")
    add_target(rv, signed=True)
    rv.add_argument("--hash", required=True)
    rv.add_argument("--reason", default="")
    rv.set_defaults(func=did_revoke)

    st = ds.add_parser("status", help="is a credential valid now")
    add_target(st, signed=False)
    which = st.add_mutually_exclusive_group(required=True)
    which.add_argument("--file", type=Path)
    which.add_argument("--hash")
    st.set_defaults(func=did_status)

    cr = ds.add_parser("credentials", help="credentials anchored for a subject, with their status")
    add_target(cr, signed=False)
    cr.add_argument("--subject", required=True)
    cr.add_argument("--offset", type=int, default=0)
    cr.add_argument("--limit", type=int, default=100)
    cr.set_defaults(func=did_credentials)


def _services(specs: list[str]) -> list[Service]:
    out = []
    for spec in specs:
        parts = spec.split(",", 2)
        if len(parts) != 3:
            raise CliError(f"--service '{spec}' must be ID,TYPE,ENDPOINT")
        out.append(Service(*parts))
    return out


def _did(s: Session, args: argparse.Namespace) -> Did:
    return Did(s.bound())


def did_create(args: argparse.Namespace) -> int:
    services = _services(args.service)
    controller = parse_address(args.controller) if args.controller else None

    async def body(s: Session) -> Any:
        assert s.account is not None
        method = verification_method(s.suite, s.account.key.public_bytes)
        agreement = ["key-1"] if s.suite.name == "sm" else []
        return await _did(s, args).create(args.id, [method], key_agreement=agreement, services=services, controller=controller)

    return run(args, "did", body)


def did_update(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {}
    if args.no_services:
        fields["services"] = []
    elif args.service is not None:
        fields["services"] = _services(args.service)
    if args.controller:
        fields["controller"] = parse_address(args.controller)
    new_key = load_key(args.rotate_key) if args.rotate_key else None
    if not fields and new_key is None:
        raise CliError("nothing to update: give --service, --no-services, --controller or --rotate-key")

    async def body(s: Session) -> Any:
        if new_key is not None:
            fields["verification_methods"] = [verification_method(s.suite, new_key.public_bytes)]
            fields["authentication"] = ["key-1"]
            fields["key_agreement"] = ["key-1"] if s.suite.name == "sm" else []
        return await _did(s, args).update(args.id, **fields)

    return run(args, "did", body)


def did_deactivate(args: argparse.Namespace) -> int:
    return run(args, "did", lambda s: _did(s, args).deactivate(args.id))


def did_resolve(args: argparse.Namespace) -> int:
    async def body(s: Session) -> Any:
        return await s.client.call_named("did_resolve", {"did": did_of(args.id), "contract": "0x" + s.address.hex()})

    return run(args, "did", body)


def did_list(args: argparse.Namespace) -> int:
    who = parse_address(args.controller)
    return run(args, "did", lambda s: _did(s, args).by_controller(who, args.offset, args.limit))


def did_register_issuer(args: argparse.Namespace) -> int:
    async def body(s: Session) -> Any:
        d = _did(s, args)
        await d.register_issuer(args.id, args.name)
        return await d.issuer(args.id)

    return run(args, "did", body)


def did_remove_issuer(args: argparse.Namespace) -> int:
    async def body(s: Session) -> Any:
        d = _did(s, args)
        await d.remove_issuer(args.id)
        return await d.issuer(args.id)

    return run(args, "did", body)


def _credential_hash(s: Session, file: Path | None, text: str | None) -> bytes:
    return s.suite.hash(read_file(file)) if file is not None else hex_bytes(text or "", "--hash")


def did_issue(args: argparse.Namespace) -> int:
    async def body(s: Session) -> Any:
        digest = _credential_hash(s, args.file, args.hash)
        seq = await _did(s, args).issue_credential(digest, args.issuer, args.subject, args.schema, args.expires_ms)
        return {"hash": digest, "seq": seq}

    return run(args, "did", body)


def did_revoke(args: argparse.Namespace) -> int:
    digest = hex_bytes(args.hash, "--hash")

    async def body(s: Session) -> Any:
        d = _did(s, args)
        await d.revoke_credential(digest, args.reason)
        return await d.credential_status(digest)

    return run(args, "did", body)


def did_status(args: argparse.Namespace) -> int:
    return run(args, "did", lambda s: _did(s, args).credential_status(_credential_hash(s, args.file, args.hash)))


def did_credentials(args: argparse.Namespace) -> int:
    return run(args, "did", lambda s: _did(s, args).credentials_of(args.subject, args.offset, args.limit))
