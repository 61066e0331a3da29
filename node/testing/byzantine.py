"""A Byzantine validator as a real process, for tests: ``python -m node.testing.byzantine --home DIR
--behaviour equivocate|invalid_proposal|bad_signature|flood|withhold|collude [--variants a,b]
[--after-height H] [--partners HEXKEY,...]``.

It is the normal node (``node.app.run_node``) with one difference: its engine's broadcasts go
through a misbehaving ``Adversary`` (``node.testing.adversary``), and with ``flood`` a ``Flood``
runs beside it; with ``collude`` its engine also shows incoming proposals to the ``Collusion``, so
that it can vote for their twins (``--partners``: the other colluders' public keys). Nothing here is reachable from ``consortia`` or from a node's configuration: a
production node cannot be made to misbehave by a setting; only this test entry point does it.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

from consensus.api import ConsensusEngine
from consensus.registry import engine_spec
from consensus.runtime import CoreEngine
from node.app import NetworkFactory, NodeParts, peer_limits, run_node
from node.consensus_engine import build_engine
from node.devnet import LocalNode
from node.errors import ConfigError, ConsortiaError
from node.p2p.service import NetworkService
from node.testing.adversary import BEHAVIOURS, COLLUDE, FLOOD, INVALID_VARIANTS, Adversary
from node.testing.collusion import Collusion
from node.testing.flood import Flood

log = logging.getLogger("consortia.byzantine")


def byzantine_network(behaviour: str, variants: tuple[str, ...] = INVALID_VARIANTS, after_height: int = 0,
                      partners: tuple[bytes, ...] = ()) -> NetworkFactory:
    """A ``node.app`` network factory whose engine sends through an ``Adversary``."""

    def factory(parts: NodeParts, home: Path) -> tuple[NetworkService, ConsensusEngine]:
        if parts.config.role != "validator":
            raise ConfigError("a Byzantine node must be a validator")
        network = NetworkService(parts.chain, parts.key, home, parts.config.p2p.host, parts.config.p2p.port,
                                 limits=peer_limits(parts.config), sync=parts.config.sync)
        spec = engine_spec(parts.genesis.consensus)
        collusion = Collusion(parts.chain, parts.key, frozenset(partners), after_height) if behaviour == COLLUDE else None
        adversary = Adversary(behaviour, parts.chain, parts.key, network.net, spec, variants, after_height, collusion=collusion)
        engine = build_engine(parts.chain, parts.key, send=adversary.send, request_sync=network.sync.request,
                              offer_blocks=network.sync.offer)
        if collusion is not None and isinstance(engine, CoreEngine):
            decode = engine.decode

            def observed(data: bytes) -> object:
                msg = decode(data)
                collusion.observe(msg)
                return msg

            engine.decode = observed
        network.attach_engine(engine)
        if behaviour == FLOOD:
            Flood(parts.chain, parts.key, network.net, spec).start()
        log.warning("event=byzantine_node behaviour=%s variants=%s after_height=%d", behaviour, ",".join(variants), after_height)
        return network, engine

    return factory


def start_byzantine(node: LocalNode, behaviour: str, variants: tuple[str, ...] = INVALID_VARIANTS, after_height: int = 0,
                    partners: tuple[bytes, ...] = ()) -> None:
    """Start ``node`` (a home written by ``node.devnet``) as a Byzantine validator, logging where a normal one would."""
    with open(node.log_path, "ab") as out:
        node.proc = subprocess.Popen(
            [sys.executable, "-m", "node.testing.byzantine", "--home", str(node.home), "--behaviour", behaviour,
             "--variants", ",".join(variants), "--after-height", str(after_height),
             "--partners", ",".join(p.hex() for p in partners)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.testing.byzantine", description=__doc__.split("\n")[0])
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--behaviour", required=True, choices=BEHAVIOURS)
    parser.add_argument("--variants", default=",".join(INVALID_VARIANTS),
                        help=f"invalid_proposal: the kinds of invalid block, one per peer in turn ({', '.join(INVALID_VARIANTS)})")
    parser.add_argument("--after-height", type=int, default=0, help="behave honestly up to this height")
    parser.add_argument("--partners", default="", help="collude: the other colluders' public keys, hex, comma-separated")
    args = parser.parse_args(argv)
    variants = tuple(v for v in args.variants.split(",") if v)
    unknown = sorted(set(variants) - set(INVALID_VARIANTS))
    if unknown or not variants:
        parser.error(f"unknown or no variants {unknown} (known: {', '.join(INVALID_VARIANTS)})")
    try:
        partners = tuple(bytes.fromhex(p) for p in args.partners.split(",") if p)
        run_node(args.home, network_factory=byzantine_network(args.behaviour, variants, args.after_height, partners))
    except ConsortiaError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
