"""``consortia catalog register|update|show|search|algo-register|algo-show|algo-list|request|approve|reject|revoke|fetch|auth|auths|uses``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from node.cli.bizcommon import Session, add_target, hex_bytes, json_arg, read_file, run
from node.cli.common import CliError, parse_address
from node.sdk.catalog import AccessRequest, Catalog, Dataset, Field


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("catalog", help="data catalog: datasets, algorithms, access authorizations (the five-step rights flow)")
    cs = p.add_subparsers(dest="catalog_cmd", required=True, metavar="COMMAND")

    r = cs.add_parser("register", help="list a dataset owned by a DID you control")
    add_target(r, signed=True)
    r.add_argument("--owner", required=True, help="owner DID")
    _dataset_fields(r, required=True)
    r.set_defaults(func=catalog_register)

    u = cs.add_parser("update", help="change a dataset (a new version; earlier ones stay readable)")
    add_target(u, signed=True)
    u.add_argument("--id", type=int, required=True)
    _dataset_fields(u, required=False)
    state = u.add_mutually_exclusive_group()
    state.add_argument("--retire", action="store_true", help="no new requests or uses")
    state.add_argument("--activate", action="store_true")
    u.add_argument("--payout", default=None, help="account credited for paid uses")
    u.set_defaults(func=catalog_update)

    s = cs.add_parser("show", help="a dataset (its current or an earlier version)")
    add_target(s, signed=False)
    s.add_argument("--id", type=int, required=True)
    s.add_argument("--version", type=int, default=None)
    s.set_defaults(func=catalog_show)

    f = cs.add_parser("search", help="datasets by owner, category and level")
    add_target(f, signed=False)
    f.add_argument("--owner", default=None)
    f.add_argument("--category", default=None)
    f.add_argument("--level", type=int, default=None)
    f.add_argument("--all", action="store_true", help="include retired datasets")
    f.add_argument("--offset", type=int, default=0)
    f.add_argument("--limit", type=int, default=100)
    f.set_defaults(func=catalog_search)

    a = cs.add_parser("algo-register", help="register an algorithm (needs the algorithm_provider role)")
    add_target(a, signed=True)
    a.add_argument("--id", required=True)
    code = a.add_mutually_exclusive_group(required=True)
    code.add_argument("--code-file", type=Path, help="the algorithm's code: its chain hash is registered")
    code.add_argument("--code-hash")
    a.add_argument("--compiler", required=True, help="compiler / runtime information")
    a.add_argument("--params", default=None, help="JSON parameters description")
    a.add_argument("--description", default="")
    a.set_defaults(func=catalog_algo_register)

    ash = cs.add_parser("algo-show", help="a registered algorithm")
    add_target(ash, signed=False)
    ash.add_argument("--id", required=True)
    ash.set_defaults(func=catalog_algo_show)

    al = cs.add_parser("algo-list", help="registered algorithms")
    add_target(al, signed=False)
    al.add_argument("--offset", type=int, default=0)
    al.add_argument("--limit", type=int, default=100)
    al.set_defaults(func=catalog_algo_list)

    q = cs.add_parser("request", help="apply for access with your DID")
    add_target(q, signed=True)
    q.add_argument("--dataset", type=int, required=True)
    q.add_argument("--requester", required=True, help="your DID")
    q.add_argument("--purpose", required=True)
    q.add_argument("--quota", type=int, required=True, help="number of uses")
    scope = q.add_mutually_exclusive_group(required=True)
    scope.add_argument("--task", default=None, help="only for this collaboration task")
    scope.add_argument("--until-height", type=int, default=None, help="a time window ending at this block height")
    q.add_argument("--algorithm", action="append", default=[], help="an allowed algorithm id (repeatable)")
    q.set_defaults(func=catalog_request)

    ap = cs.add_parser("approve", help="authorize a request (dataset owner only; may lower quota, shorten window)")
    add_target(ap, signed=True)
    ap.add_argument("--auth", type=int, required=True)
    ap.add_argument("--quota", type=int, default=None)
    ap.add_argument("--until-height", type=int, default=None)
    ap.set_defaults(func=catalog_approve)

    for verb, text, handler in (("reject", "refuse a request (owner only)", catalog_reject),
                                ("revoke", "end an approved authorization (owner only)", catalog_revoke)):
        x = cs.add_parser(verb, help=text)
        add_target(x, signed=True)
        x.add_argument("--auth", type=int, required=True)
        x.add_argument("--reason", default="")
        x.set_defaults(func=handler)

    fe = cs.add_parser("fetch", help="use an authorization once: checked, counted and logged; prints the access address")
    add_target(fe, signed=True)
    fe.add_argument("--auth", type=int, required=True)
    fe.add_argument("--algorithm", default=None)
    fe.add_argument("--task", default=None)
    fe.add_argument("--purpose", default=None)
    fe.set_defaults(func=catalog_fetch)

    sh = cs.add_parser("auth", help="an authorization and its status")
    add_target(sh, signed=False)
    sh.add_argument("--auth", type=int, required=True)
    sh.set_defaults(func=catalog_auth)

    ls = cs.add_parser("auths", help="authorizations of a dataset, a requester or an owner")
    add_target(ls, signed=False)
    by = ls.add_mutually_exclusive_group(required=True)
    by.add_argument("--dataset", type=int)
    by.add_argument("--requester")
    by.add_argument("--owner")
    ls.add_argument("--offset", type=int, default=0)
    ls.add_argument("--limit", type=int, default=100)
    ls.set_defaults(func=catalog_auths)

    us = cs.add_parser("uses", help="the use log (every use, or one authorization's) for audit")
    add_target(us, signed=False)
    us.add_argument("--auth", type=int, default=None)
    us.add_argument("--offset", type=int, default=0)
    us.add_argument("--limit", type=int, default=100)
    us.set_defaults(func=catalog_uses)


def _dataset_fields(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--name", required=required)
    p.add_argument("--description", default=None)
    p.add_argument("--schema", required=required, help="fields as NAME:TYPE[:LENGTH],... e.g. id:string:32,visits:int")
    sample = p.add_mutually_exclusive_group(required=required)
    sample.add_argument("--sample-file", type=Path, help="a sample of the data: its chain hash is recorded")
    sample.add_argument("--sample-hash")
    p.add_argument("--category", required=required)
    p.add_argument("--level", type=int, required=required, help="classification level 1-5")
    p.add_argument("--share-mode", required=required, help="exchange mode, e.g. compute, download, api")
    p.add_argument("--share-rule", default=None)
    p.add_argument("--access", required=required, help="where authorized users fetch the data")
    p.add_argument("--credential-schema", default=None, help="credential the requester must hold at fetch time")
    p.add_argument("--price", type=int, default=None, help="points per use")


def _schema(text: str) -> list[Field]:
    out = []
    for part in text.split(","):
        bits = part.split(":")
        if len(bits) not in (2, 3) or not all(bits):
            raise CliError(f"--schema field '{part}' must be NAME:TYPE[:LENGTH]")
        try:
            out.append(Field(bits[0], bits[1], int(bits[2]) if len(bits) == 3 else None))
        except ValueError:
            raise CliError(f"--schema field '{part}': LENGTH must be an integer") from None
    return out


def _fields(s: Session, args: argparse.Namespace) -> dict[str, Any]:
    """The dataset fields given on the command line, as contract arguments."""
    out: dict[str, Any] = {}
    for name in ("name", "description", "category", "level", "share_mode", "share_rule", "access", "credential_schema", "price"):
        value = getattr(args, name)
        if value is not None:
            out[name] = value
    if args.schema is not None:
        out["schema"] = [f.to_args() for f in _schema(args.schema)]
    if args.sample_file is not None:
        out["sample_hash"] = s.suite.hash(read_file(args.sample_file))
    elif args.sample_hash is not None:
        out["sample_hash"] = hex_bytes(args.sample_hash, "--sample-hash")
    return out


def _catalog(s: Session, args: argparse.Namespace) -> Catalog:
    return Catalog(s.bound())


def catalog_register(args: argparse.Namespace) -> int:
    async def body(s: Session) -> Any:
        f = _fields(s, args)
        ds = Dataset(owner=args.owner, name=f["name"], schema=_schema(args.schema), sample_hash=f["sample_hash"],
                     category=f["category"], level=f["level"], share_mode=f["share_mode"], access=f["access"],
                     description=f.get("description", ""), share_rule=f.get("share_rule", ""),
                     credential_schema=f.get("credential_schema", ""), price=f.get("price", 0))
        return {"id": await _catalog(s, args).register_dataset(ds)}

    return run(args, "catalog", body)


def catalog_update(args: argparse.Namespace) -> int:
    async def body(s: Session) -> Any:
        f = _fields(s, args)
        if args.retire or args.activate:
            f["active"] = bool(args.activate)
        if args.payout:
            f["payout"] = parse_address(args.payout)
        if not f:
            raise CliError("nothing to update")
        return {"id": args.id, "version": await _catalog(s, args).update_dataset(args.id, **f)}

    return run(args, "catalog", body)


def catalog_show(args: argparse.Namespace) -> int:
    async def body(s: Session) -> Any:
        found = await _catalog(s, args).dataset(args.id, args.version)
        if found is None:
            raise CliError(f"no dataset {args.id}" + (f" version {args.version}" if args.version else ""))
        return found

    return run(args, "catalog", body)


def catalog_search(args: argparse.Namespace) -> int:
    return run(args, "catalog", lambda s: _catalog(s, args).search(owner=args.owner, category=args.category, level=args.level,
                                                        active_only=not args.all, offset=args.offset, limit=args.limit))


def catalog_algo_register(args: argparse.Namespace) -> int:
    params = json_arg(args.params, "--params")

    async def body(s: Session) -> Any:
        code_hash = s.suite.hash(read_file(args.code_file)) if args.code_file else hex_bytes(args.code_hash, "--code-hash")
        c = _catalog(s, args)
        await c.register_algorithm(args.id, code_hash, args.compiler, params, args.description)
        return await c.algorithm(args.id)

    return run(args, "catalog", body)


def catalog_algo_show(args: argparse.Namespace) -> int:
    return run(args, "catalog", lambda s: _catalog(s, args).algorithm(args.id))


def catalog_algo_list(args: argparse.Namespace) -> int:
    return run(args, "catalog", lambda s: _catalog(s, args).algorithms(args.offset, args.limit))


def catalog_request(args: argparse.Namespace) -> int:
    request = AccessRequest(dataset=args.dataset, requester=args.requester, purpose=args.purpose, quota=args.quota,
                            scope="task" if args.task else "window", until_height=args.until_height or 0, task_id=args.task,
                            algorithms=args.algorithm)

    async def body(s: Session) -> Any:
        c = _catalog(s, args)
        return await c.authorization(await c.request_access(request))

    return run(args, "catalog", body)


def catalog_approve(args: argparse.Namespace) -> int:
    return run(args, "catalog", lambda s: _catalog(s, args).approve(args.auth, quota=args.quota, until_height=args.until_height))


def catalog_reject(args: argparse.Namespace) -> int:
    return run(args, "catalog", lambda s: _catalog(s, args).reject(args.auth, args.reason))


def catalog_revoke(args: argparse.Namespace) -> int:
    return run(args, "catalog", lambda s: _catalog(s, args).revoke(args.auth, args.reason))


def catalog_fetch(args: argparse.Namespace) -> int:
    return run(args, "catalog", lambda s: _catalog(s, args).fetch(args.auth, algorithm=args.algorithm, task_id=args.task, purpose=args.purpose))


def catalog_auth(args: argparse.Namespace) -> int:
    return run(args, "catalog", lambda s: _catalog(s, args).authorization(args.auth))


def catalog_auths(args: argparse.Namespace) -> int:
    return run(args, "catalog", lambda s: _catalog(s, args).authorizations(dataset=args.dataset, requester=args.requester, owner=args.owner,
                                                                offset=args.offset, limit=args.limit))


def catalog_uses(args: argparse.Namespace) -> int:
    return run(args, "catalog", lambda s: _catalog(s, args).uses(args.auth, args.offset, args.limit))
