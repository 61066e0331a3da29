"""A single-validator engine: PBFT with n = 1, where the only replica's commit vote is the quorum.

It seals a block as soon as transactions are pending (after ``min_seal_ms`` to let a batch form)
or when ``block_interval_ms`` passes with none, and stores each block with a one-signature commit
certificate, which clients verify exactly like a multi-validator one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from consensus.api import Application, ConsensusEngine
from node.crypto.base import KeyPair
from node.errors import ConfigError
from node.wire.types import CommitCertificate, Vote, commit_vote_bytes

log = logging.getLogger("consortia.consensus")


class SoloEngine(ConsensusEngine):
    name = "pbft-solo"

    def __init__(self, app: Application, key: KeyPair) -> None:
        self.app = app
        self.key = key
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.blocks_sealed = 0
        self.last_error: str | None = None
        validators = app.validators()
        if validators != [key.public_bytes]:
            raise ConfigError("the single-validator engine needs exactly one validator, and it must be this node")

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="solo-consensus")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    def status(self) -> dict[str, Any]:
        return {"engine": self.name, "view": 0, "validators": 1, "blocks_sealed": self.blocks_sealed, "last_error": self.last_error}

    async def _run(self) -> None:
        while not self._stopping:
            params = self.app.params()
            pending = await self.app.wait_for_transactions(params.block_interval_ms / 1000)
            if pending and params.min_seal_ms:
                await asyncio.sleep(params.min_seal_ms / 1000)
            try:
                await self.seal_one()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the chain alive; the error is logged and visible in node_info
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                log.exception("event=seal_failed error=%r", self.last_error)
                await asyncio.sleep(0.5)

    async def seal_one(self) -> None:
        head = self.app.head()
        params = self.app.params()
        height = head.height + 1
        timestamp_ms = max(int(time.time() * 1000), head.timestamp_ms)
        proposal = self.app.propose(
            height=height, view=0, proposer=self.key.public_bytes, timestamp_ms=timestamp_ms, max_txs=params.block_tx_limit
        )
        suite = self.app.suite
        signature = suite.sign(self.key.private_bytes, commit_vote_bytes(self.app.chain_id, height, 0, proposal.block_hash))
        cert = CommitCertificate(
            chain_id=self.app.chain_id,
            height=height,
            view=0,
            block_hash=proposal.block_hash,
            votes=(Vote(validator=self.key.public_bytes, signature=signature),),
        )
        self.app.commit(proposal.block, cert)
        self.blocks_sealed += 1
