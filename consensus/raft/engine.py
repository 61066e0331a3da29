"""Raft on a real event loop, sharing the PBFT engine's timers and network plumbing."""

from __future__ import annotations

import logging
from typing import Any

from consensus.api import Application, ConsensusEngine
from consensus.pbft.engine import AsyncPbftEnv
from consensus.raft.core import RaftCore
from consensus.raft.messages import decode_message
from node.crypto.base import KeyPair
from node.errors import ConsortiaError

log = logging.getLogger("consortia.raft")


class RaftEngine(ConsensusEngine):
    name = "raft"

    def __init__(self, app: Application, key: KeyPair, env: AsyncPbftEnv) -> None:
        self.env = env
        self.core = RaftCore(app, key, env)
        self.undecodable = 0

    async def start(self) -> None:
        self.core.start()

    async def stop(self) -> None:
        self.core.stop()
        self.env.cancel_all()

    def status(self) -> dict[str, Any]:
        out = self.core.status()
        out["undecodable"] = self.undecodable
        return out

    def on_network_message(self, data: bytes) -> None:
        try:
            msg = decode_message(data)
        except ConsortiaError:
            self.undecodable += 1
            return
        self.core.on_message(msg)

    def on_transactions(self) -> None:
        self.core.on_transactions()

    def on_synced(self) -> None:
        self.core.advance()
