"""``consortia rights template|template-show|issue|transfer|sell|buy|revoke|show|held|history``."""

from __future__ import annotations

import argparse
from typing import Any

from node.cli.bizcommon import Session, add_target, run
from node.cli.common import CliError, parse_address
from node.sdk.rights import Issue, Rights


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rights", help="data-rights certificates: templates, issuance, transfer, sale in points, audit trail")
    rs = p.add_subparsers(dest="rights_cmd", required=True, metavar="COMMAND")

    def verb(name: str, text: str, signed: bool, func: Any) -> argparse.ArgumentParser:
        x = rs.add_parser(name, help=text)
        add_target(x, signed=signed)
        x.set_defaults(func=func)
        return x

    t = verb("template", "define a certificate template (consortium leader or regulator)", True, rights_template)
    t.add_argument("--id", required=True)
    t.add_argument("--name", required=True)
    t.add_argument("--type", required=True, help="rights type, e.g. ownership, usage, revenue")
    t.add_argument("--terms", default="")
    ts = verb("template-show", "a template", False, rights_template_show)
    ts.add_argument("--id", required=True)
    i = verb("issue", "issue a certificate to a holder DID (regulator)", True, rights_issue)
    i.add_argument("--template", required=True)
    i.add_argument("--holder", required=True)
    i.add_argument("--source", required=True, help="where the rights come from, e.g. 'catalog dataset 1'")
    i.add_argument("--scope", required=True)
    i.add_argument("--profit-share-bp", type=int, required=True, help="share of every sale for the beneficiary, basis points")
    i.add_argument("--beneficiary", required=True, help="account that receives the profit share")
    i.add_argument("--price", type=int, default=0)
    i.add_argument("--expires-height", type=int, default=0)
    tr = verb("transfer", "give a certificate to another DID (holder only)", True, rights_transfer)
    tr.add_argument("--cert", type=int, required=True)
    tr.add_argument("--to", required=True)
    s = verb("sell", "offer a certificate for points (holder only)", True, rights_sell)
    s.add_argument("--cert", type=int, required=True)
    s.add_argument("--price", type=int, required=True)
    s.add_argument("--payout", default=None, help="account paid (default: the signer)")
    b = verb("buy", "buy a certificate offered for sale, paying in points", True, rights_buy)
    b.add_argument("--cert", type=int, required=True)
    b.add_argument("--buyer", required=True, help="your DID")
    rv = verb("revoke", "revoke a certificate (regulator)", True, rights_revoke)
    rv.add_argument("--cert", type=int, required=True)
    rv.add_argument("--reason", default="")
    sh = verb("show", "a certificate", False, rights_show)
    sh.add_argument("--cert", type=int, required=True)
    h = verb("held", "certificates a DID holds", False, rights_held)
    h.add_argument("--holder", required=True)
    hi = verb("history", "the audit trail of a certificate", False, rights_history)
    hi.add_argument("--cert", type=int, required=True)


def _rights(s: Session, args: argparse.Namespace) -> Rights:
    return Rights(s.bound())


def rights_template(args: argparse.Namespace) -> int:
    async def body(s: Session) -> Any:
        r = _rights(s, args)
        await r.create_template(args.id, args.name, args.type, args.terms)
        return await r.template(args.id)

    return run(args, "rights", body)


def rights_template_show(args: argparse.Namespace) -> int:
    return run(args, "rights", lambda s: _rights(s, args).template(args.id))


def rights_issue(args: argparse.Namespace) -> int:
    spec = Issue(args.template, args.holder, args.source, args.scope, args.profit_share_bp, parse_address(args.beneficiary),
                 args.price, args.expires_height)

    async def body(s: Session) -> Any:
        r = _rights(s, args)
        return await r.certificate(await r.issue(spec))

    return run(args, "rights", body)


def rights_transfer(args: argparse.Namespace) -> int:
    return run(args, "rights", lambda s: _rights(s, args).transfer(args.cert, args.to))


def rights_sell(args: argparse.Namespace) -> int:
    payout = parse_address(args.payout) if args.payout else None
    return run(args, "rights", lambda s: _rights(s, args).list_for_sale(args.cert, args.price, payout))


def rights_buy(args: argparse.Namespace) -> int:
    return run(args, "rights", lambda s: _rights(s, args).buy(args.cert, args.buyer))


def rights_revoke(args: argparse.Namespace) -> int:
    return run(args, "rights", lambda s: _rights(s, args).revoke(args.cert, args.reason))


def rights_show(args: argparse.Namespace) -> int:
    async def body(s: Session) -> Any:
        found = await _rights(s, args).certificate(args.cert)
        if found is None:
            raise CliError(f"no certificate {args.cert}")
        return found

    return run(args, "rights", body)


def rights_held(args: argparse.Namespace) -> int:
    return run(args, "rights", lambda s: _rights(s, args).by_holder(args.holder))


def rights_history(args: argparse.Namespace) -> int:
    return run(args, "rights", lambda s: _rights(s, args).history(args.cert))
