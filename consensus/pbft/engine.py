"""PBFT on a real event loop: wall-clock timers and the peer network behind ``ConsensusEnv``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from consensus.api import Application, ConsensusEngine
from consensus.pbft.core import PbftCore
from consensus.pbft.messages import ConsensusMessage, decode_message, encode_message
from node.crypto.base import KeyPair
from node.errors import ConsortiaError

log = logging.getLogger("consortia.pbft")


class AsyncPbftEnv:
    def __init__(
        self,
        send: Callable[[bytes], None],
        request_sync: Callable[[int, bytes | None], None],
        offer_blocks: Callable[[bytes, int], None],
    ) -> None:
        self._send = send
        self._request_sync = request_sync
        self._offer = offer_blocks
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def broadcast(self, msg: ConsensusMessage) -> None:
        self._send(encode_message(msg))

    def set_timer(self, name: str, delay_ms: int, callback: Callable[[], None]) -> None:
        self.cancel_timer(name)

        def fire() -> None:
            self._timers.pop(name, None)
            try:
                callback()
            except Exception:  # a failing round must not kill the loop; the next timer retries
                log.exception("event=pbft_timer_failed timer=%s", name)

        self._timers[name] = asyncio.get_running_loop().call_later(max(0, delay_ms) / 1000, fire)

    def cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def request_sync(self, target_height: int, hint: bytes | None) -> None:
        self._request_sync(target_height, hint)

    def peer_behind(self, peer: bytes, height: int) -> None:
        self._offer(peer, height)

    def cancel_all(self) -> None:
        for name in list(self._timers):
            self.cancel_timer(name)


class CoreEngine(ConsensusEngine):
    """Drives a consensus state machine (PBFT or Raft core) from the event loop and the network.

    The core does the protocol; this wrapper decodes network frames for it, forwards transaction
    arrivals and catch-up commits, and owns the timers' lifetime.
    """

    name = "core"

    def __init__(self, core: Any, decode: Callable[[bytes], Any], env: AsyncPbftEnv) -> None:
        self.core = core
        self.decode = decode
        self.env = env
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
            msg = self.decode(data)
        except ConsortiaError:
            self.undecodable += 1
            return
        try:
            self.core.on_message(msg)
        except ConsortiaError as exc:
            log.info("event=consensus_message_failed reason=%r", exc.message)

    def on_transactions(self) -> None:
        self.core.on_transactions()

    def on_peer_connected(self) -> None:
        """A validator (re)connected: repeat what it may have missed (engines that need it)."""
        hook = getattr(self.core, "on_peer_connected", None)
        if hook is not None:
            hook()

    def on_synced(self) -> None:
        """Blocks were committed by catch-up: move the state machine to the new head."""
        self.core.advance()


class PbftEngine(CoreEngine):
    name = "pbft"

    def __init__(self, app: Application, key: KeyPair, env: AsyncPbftEnv) -> None:
        super().__init__(PbftCore(app, key, env), decode_message, env)
