"""Raft on a real event loop, sharing the PBFT engine's timers and network plumbing."""

from __future__ import annotations

from consensus.api import Application
from consensus.pbft.engine import AsyncPbftEnv, CoreEngine
from consensus.raft.core import RaftCore
from consensus.raft.messages import decode_message
from node.crypto.base import KeyPair


class RaftEngine(CoreEngine):
    name = "raft"

    def __init__(self, app: Application, key: KeyPair, env: AsyncPbftEnv) -> None:
        super().__init__(RaftCore(app, key, env), decode_message, env)
