"""Running a consensus core on a real event loop: wall-clock timers and the peer network.

A core (``PbftCore``, ``RaftCore``) is a state machine that only sees ``ConsensusEnv``; the same
code runs here and on the deterministic simulator. ``AsyncEnv`` is the event-loop side of that
interface, and ``CoreEngine`` is the ``ConsensusEngine`` the node drives: it decodes network
frames for the core and owns the timers' lifetime.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from consensus.api import ConsensusCore, ConsensusEngine
from node.errors import ConsortiaError

log = logging.getLogger("consortia.consensus")


class AsyncEnv:
    """``ConsensusEnv`` on the running asyncio loop; every outward effect is a callback the node supplies."""

    def __init__(
        self,
        send: Callable[[bytes], None],
        request_sync: Callable[[int, bytes | None], None],
        offer_blocks: Callable[[bytes, int], None],
        encode: Callable[[Any], bytes],
        view_changed: Callable[[int, int], None] = lambda view, height: None,
    ) -> None:
        self._send = send
        self._request_sync = request_sync
        self._offer = offer_blocks
        self._encode = encode
        self._view_changed = view_changed
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def broadcast(self, msg: Any) -> None:
        self._send(self._encode(msg))

    def set_timer(self, name: str, delay_ms: int, callback: Callable[[], None]) -> None:
        self.cancel_timer(name)

        def fire() -> None:
            self._timers.pop(name, None)
            try:
                callback()
            except Exception:  # a failing round must not kill the loop; the next timer retries
                log.exception("event=consensus_timer_failed timer=%s", name)

        self._timers[name] = asyncio.get_running_loop().call_later(max(0, delay_ms) / 1000, fire)

    def cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def request_sync(self, target_height: int, hint: bytes | None) -> None:
        self._request_sync(target_height, hint)

    def peer_behind(self, peer: bytes, height: int) -> None:
        self._offer(peer, height)

    def view_changed(self, view: int, height: int) -> None:
        self._view_changed(view, height)

    def cancel_all(self) -> None:
        for name in list(self._timers):
            self.cancel_timer(name)


class CoreEngine(ConsensusEngine):
    """Drives a consensus core from the event loop and the network."""

    def __init__(self, name: str, core: ConsensusCore, decode: Callable[[bytes], Any], env: AsyncEnv) -> None:
        self.name = name
        self.core = core
        self.decode = decode
        self.env = env
        self.undecodable = 0
        self.running = False  # between start and stop: before or after, node events are not the core's business

    async def start(self) -> None:
        self.running = True
        self.core.start()

    async def stop(self) -> None:
        self.running = False
        self.core.stop()
        self.env.cancel_all()

    def halt(self) -> None:
        self.running = False
        self.core.stop()
        self.env.cancel_all()

    def status(self) -> dict[str, Any]:
        out = self.core.status()
        out["undecodable"] = self.undecodable
        return out

    def on_network_message(self, data: bytes) -> None:
        if not self.running:
            return
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
        # (A node's RPC opens before its engine starts: a transaction admitted in between must
        # not make a core that has not started propose.)
        if self.running:
            self.core.on_transactions()

    def on_peer_connected(self) -> None:
        if self.running:
            self.core.on_peer_connected()

    def on_synced(self) -> None:
        if self.running:
            self.core.advance()
