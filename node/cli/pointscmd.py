"""``consortia points mint|transfer|balance|supply|lock|deliver|confirm|refund|escrow|contribute|consume|scores|rate|rating|ranking``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from node.cli.bizcommon import Session, add_target, hex_bytes, read_file, run
from node.cli.common import parse_address
from node.sdk.points import Points


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("points", help="incentive points: ledger, escrow, scores, ratings and rankings")
    ps = p.add_subparsers(dest="points_cmd", required=True, metavar="COMMAND")

    def verb(name: str, text: str, signed: bool, func: Any) -> argparse.ArgumentParser:
        x = ps.add_parser(name, help=text)
        add_target(x, signed=signed)
        x.set_defaults(func=func)
        return x

    m = verb("mint", "mint points (regulator only)", True, points_mint)
    m.add_argument("--to", required=True)
    m.add_argument("--amount", type=int, required=True)
    m.add_argument("--memo", default="")
    t = verb("transfer", "send points", True, points_transfer)
    t.add_argument("--to", required=True)
    t.add_argument("--amount", type=int, required=True)
    t.add_argument("--memo", default="")
    b = verb("balance", "an account's points", False, points_balance)
    b.add_argument("--account", required=True)
    verb("supply", "points minted so far", False, points_supply)
    lk = verb("lock", "lock points in escrow for a payee", True, points_lock)
    lk.add_argument("--payee", required=True)
    lk.add_argument("--amount", type=int, required=True)
    lk.add_argument("--timeout-height", type=int, required=True, help="after this height the payer may take the points back")
    lk.add_argument("--ref", default="", help="what the escrow pays for, e.g. a task id")
    for name, text, func in (("deliver", "payee: state the hash of what was delivered", points_deliver),
                             ("confirm", "payer: confirm receipt with the hash received (releases the points)", points_confirm)):
        x = verb(name, text, True, func)
        x.add_argument("--id", type=int, required=True)
        what = x.add_mutually_exclusive_group(required=True)
        what.add_argument("--file", type=Path, help="the delivered result: its chain hash is used")
        what.add_argument("--hash")
    rf = verb("refund", "return escrowed points (payee any time; payer after the timeout)", True, points_refund)
    rf.add_argument("--id", type=int, required=True)
    rf.add_argument("--reason", default="")
    e = verb("escrow", "an escrow and its state", False, points_escrow)
    e.add_argument("--id", type=int, required=True)
    c = verb("contribute", "record contribution counters (regulator only)", True, points_contribute)
    c.add_argument("--account", required=True)
    for f in ("data-volume", "dimensions", "model-share-bp", "participations"):
        c.add_argument(f"--{f}", type=int, default=None)
    cn = verb("consume", "record consumption counters (regulator only)", True, points_consume)
    cn.add_argument("--account", required=True)
    cn.add_argument("--queries", type=int, default=None)
    cn.add_argument("--task-rounds", type=int, default=None)
    s = verb("scores", "an account's contribution and consumption scores", False, points_scores)
    s.add_argument("--account", required=True)
    r = verb("rate", "rate a dataset you used (1-5)", True, points_rate)
    r.add_argument("--dataset", type=int, required=True)
    r.add_argument("--score", type=int, required=True)
    rt = verb("rating", "a dataset's uses, earnings and rating", False, points_rating)
    rt.add_argument("--dataset", type=int, required=True)
    rk = verb("ranking", "datasets ranked by rating, uses or earnings", False, points_ranking)
    rk.add_argument("--by", choices=("rating", "uses", "earned"), default="rating")
    rk.add_argument("--limit", type=int, default=10)


def _points(s: Session, args: argparse.Namespace) -> Points:
    return Points(s.bound())


def points_mint(args: argparse.Namespace) -> int:
    to = parse_address(args.to)
    return run(args, "points", lambda s: _balance_after(_points(s, args).mint(to, args.amount, args.memo)))


def points_transfer(args: argparse.Namespace) -> int:
    to = parse_address(args.to)
    return run(args, "points", lambda s: _balance_after(_points(s, args).transfer(to, args.amount, args.memo)))


async def _balance_after(call: Any) -> dict[str, int]:
    return {"balance": await call}


def points_balance(args: argparse.Namespace) -> int:
    who = parse_address(args.account)
    return run(args, "points", lambda s: _balance_after(_points(s, args).balance(who)))


def points_supply(args: argparse.Namespace) -> int:
    async def body(s: Session) -> Any:
        return {"supply": await _points(s, args).supply()}

    return run(args, "points", body)


def points_lock(args: argparse.Namespace) -> int:
    payee = parse_address(args.payee)

    async def body(s: Session) -> Any:
        p = _points(s, args)
        return await p.escrow(await p.escrow_lock(payee, args.amount, args.timeout_height, args.ref))

    return run(args, "points", body)


def _hash(s: Session, args: argparse.Namespace) -> bytes:
    return s.suite.hash(read_file(args.file)) if args.file is not None else hex_bytes(args.hash, "--hash")


def points_deliver(args: argparse.Namespace) -> int:
    return run(args, "points", lambda s: _points(s, args).escrow_deliver(args.id, _hash(s, args)))


def points_confirm(args: argparse.Namespace) -> int:
    return run(args, "points", lambda s: _points(s, args).escrow_confirm(args.id, _hash(s, args)))


def points_refund(args: argparse.Namespace) -> int:
    return run(args, "points", lambda s: _points(s, args).escrow_refund(args.id, args.reason))


def points_escrow(args: argparse.Namespace) -> int:
    return run(args, "points", lambda s: _points(s, args).escrow(args.id))


def points_contribute(args: argparse.Namespace) -> int:
    who = parse_address(args.account)
    counts = {k: v for k, v in (("data_volume", args.data_volume), ("dimensions", args.dimensions),
                                ("model_share_bp", args.model_share_bp), ("participations", args.participations)) if v is not None}
    return run(args, "points", lambda s: _points(s, args).record_contribution(who, **counts))


def points_consume(args: argparse.Namespace) -> int:
    who = parse_address(args.account)
    counts = {k: v for k, v in (("queries", args.queries), ("task_rounds", args.task_rounds)) if v is not None}
    return run(args, "points", lambda s: _points(s, args).record_consumption(who, **counts))


def points_scores(args: argparse.Namespace) -> int:
    who = parse_address(args.account)
    return run(args, "points", lambda s: _points(s, args).scores(who))


def points_rate(args: argparse.Namespace) -> int:
    return run(args, "points", lambda s: _points(s, args).rate(args.dataset, args.score))


def points_rating(args: argparse.Namespace) -> int:
    return run(args, "points", lambda s: _points(s, args).rating(args.dataset))


def points_ranking(args: argparse.Namespace) -> int:
    return run(args, "points", lambda s: _points(s, args).ranking(args.by, args.limit))
