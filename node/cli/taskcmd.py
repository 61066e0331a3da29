"""``consortia task create|show|ack|receive|fail|terminate|verify``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from node.cli.bizcommon import Session, add_target, hex_bytes, json_arg, read_file, run
from node.cli.common import CliError
from node.sdk.task import PHASES, Task, TaskSpec, commitment


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("task", help="collaboration tasks: phases, commitments, evidence points")
    ts = p.add_subparsers(dest="task_cmd", required=True, metavar="COMMAND")

    c = ts.add_parser("create", help="create a task over your approved authorizations (uses each once)")
    add_target(c, signed=True)
    c.add_argument("--id", required=True)
    c.add_argument("--initiator", required=True, help="your DID (the requester of every authorization)")
    c.add_argument("--participant", action="append", required=True, help="a participant DID (repeatable; include the initiator)")
    c.add_argument("--receiver", action="append", required=True, help="a result receiver DID (repeatable)")
    c.add_argument("--auth", type=int, action="append", required=True, help="an authorization id (repeatable)")
    c.add_argument("--algorithm", required=True)
    c.add_argument("--purpose", required=True)
    c.add_argument("--steps", default=None, help='JSON DAG, e.g. [{"id":"psi"},{"id":"train","deps":["psi"]}]')
    c.add_argument("--params", default=None, help="JSON parameters")
    c.set_defaults(func=task_create)

    s = ts.add_parser("show", help="a task: phase, acknowledgements, commitments, evidence")
    add_target(s, signed=False)
    s.add_argument("--id", required=True)
    s.set_defaults(func=task_show)

    a = ts.add_parser("ack", help="acknowledge the current phase as a participant")
    add_target(a, signed=True)
    a.add_argument("--id", required=True)
    a.add_argument("--participant", required=True, help="your participant DID")
    a.add_argument("--phase", choices=PHASES, required=True)
    what = a.add_mutually_exclusive_group()
    what.add_argument("--file", type=Path, help="commit to this file: a salted hash is sent, the salt printed")
    what.add_argument("--commitment", help="0x-prefixed salted hash you made yourself")
    a.set_defaults(func=task_ack)

    r = ts.add_parser("receive", help="confirm receipt of the result as a named receiver")
    add_target(r, signed=True)
    r.add_argument("--id", required=True)
    r.add_argument("--receiver", required=True)
    got = r.add_mutually_exclusive_group(required=True)
    got.add_argument("--file", type=Path, help="the received result: its chain hash is recorded")
    got.add_argument("--hash")
    r.set_defaults(func=task_receive)

    f = ts.add_parser("fail", help="report a failure as a participant: ends the task for all")
    add_target(f, signed=True)
    f.add_argument("--id", required=True)
    f.add_argument("--participant", required=True)
    f.add_argument("--reason", default="")
    f.set_defaults(func=task_fail)

    t = ts.add_parser("terminate", help="stop the task as its initiator")
    add_target(t, signed=True)
    t.add_argument("--id", required=True)
    t.add_argument("--reason", default="")
    t.set_defaults(func=task_terminate)

    v = ts.add_parser("verify", help="check a revealed salt and value against a stored commitment")
    add_target(v, signed=False)
    v.add_argument("--id", required=True)
    v.add_argument("--phase", choices=PHASES, required=True)
    v.add_argument("--participant", required=True)
    v.add_argument("--salt", required=True)
    v.add_argument("--file", type=Path, required=True, help="the committed file")
    v.set_defaults(func=task_verify)


def _task(s: Session, args: argparse.Namespace) -> Task:
    return Task(s.bound())


def task_create(args: argparse.Namespace) -> int:
    steps = json_arg(args.steps, "--steps") or [{"id": "run"}]
    spec = TaskSpec(id=args.id, initiator=args.initiator, participants=args.participant, receivers=args.receiver,
                    datasets=args.auth, algorithm=args.algorithm, purpose=args.purpose, steps=steps,
                    parameters=json_arg(args.params, "--params"))

    async def body(s: Session) -> Any:
        t = _task(s, args)
        return await t.get(await t.create(spec))

    return run(args, "task", body)


def task_show(args: argparse.Namespace) -> int:
    async def body(s: Session) -> Any:
        found = await _task(s, args).get(args.id)
        if found is None:
            raise CliError(f"no task '{args.id}'")
        return found

    return run(args, "task", body)


def task_ack(args: argparse.Namespace) -> int:
    if args.phase != "cleanup" and args.file is None and args.commitment is None:
        raise CliError(f"acknowledging {args.phase} needs --file or --commitment")

    async def body(s: Session) -> Any:
        salt = None
        value = None
        if args.file is not None:
            value, salt = commitment(s.suite, s.suite.hash(read_file(args.file)))
        elif args.commitment is not None:
            value = hex_bytes(args.commitment, "--commitment")
        out = await _task(s, args).ack(args.id, args.participant, args.phase, value)
        return {"phase": out["phase"], "state": out["state"], "commitment": value, "salt": salt}

    return run(args, "task", body)


def task_receive(args: argparse.Namespace) -> int:
    async def body(s: Session) -> Any:
        digest = s.suite.hash(read_file(args.file)) if args.file is not None else hex_bytes(args.hash, "--hash")
        return await _task(s, args).receive(args.id, args.receiver, digest)

    return run(args, "task", body)


def task_fail(args: argparse.Namespace) -> int:
    return run(args, "task", lambda s: _task(s, args).fail(args.id, args.participant, args.reason))


def task_terminate(args: argparse.Namespace) -> int:
    return run(args, "task", lambda s: _task(s, args).terminate(args.id, args.reason))


def task_verify(args: argparse.Namespace) -> int:
    salt = hex_bytes(args.salt, "--salt")

    async def body(s: Session) -> Any:
        value = s.suite.hash(read_file(args.file))
        return {"valid": await _task(s, args).verify_commitment(args.id, args.phase, args.participant, salt, value)}

    return run(args, "task", body)
