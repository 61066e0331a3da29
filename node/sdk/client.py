"""Async JSON-RPC client, signing account, and resumable subscriptions.

Everything that talks to a node (CLI, workers, demo, benchmarks' checks) goes through here, so
connection errors, JSON-RPC errors and timeouts each surface as one ``ConsortiaError`` with a clear
message.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from node.crypto import get_suite
from node.crypto.base import CryptoSuite, KeyPair
from node.errors import ConsortiaError, Unavailable
from node.sdk.args import decode_return, encode_args
from node.sdk.tx import build_transaction
from node.wire.types import Transaction


class RpcError(ConsortiaError):
    """A JSON-RPC error returned by the node, with its code and data."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message, data=data)
        self.code = code
        self.kind = data.get("kind", "rpc_error") if isinstance(data, dict) else "rpc_error"


EXPIRY_MARGIN = 600  # blocks after the head a transaction stays valid (at most the chain's tx_expiry_window - 1)


class ReceiptTimeout(ConsortiaError):
    code = -32010
    kind = "timeout"


class TransactionDropped(ConsortiaError):
    """The node reports the transaction dropped (expired, its nonce used by another, or refused
    by a proposer): it will never get a receipt, so waiting longer is pointless."""

    code = -32002
    kind = "dropped"


RESEND_EVERY = 5.0  # seconds between re-sends of a transaction the node does not know (wait_for_receipt)
DUPLICATE_TRANSACTION = -32004  # tx_send: pooled or committed already (docs/json-rpc.md)


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _unhex(s: str) -> bytes:
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


class RpcClient:
    """``async with RpcClient(url) as c: await c.block_number()``."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def _post(self, body: Any) -> Any:
        try:
            async with self._http().post(self.url, data=json.dumps(body), headers={"Content-Type": "application/json"}) as resp:
                text = await resp.text()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise Unavailable(f"cannot reach node at {self.url}: {exc.__class__.__name__} {exc}".strip()) from None
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise Unavailable(f"node at {self.url} answered with something that is not JSON (HTTP {resp.status})") from None

    @staticmethod
    def _result(reply: Any) -> Any:
        if not isinstance(reply, dict):
            raise Unavailable("malformed JSON-RPC reply")
        if "error" in reply:
            err = reply["error"] or {}
            raise RpcError(int(err.get("code", -32603)), str(err.get("message", "error")), err.get("data"))
        return reply.get("result")

    async def call(self, method: str, *params: Any) -> Any:
        """Call ``method`` with its parameters by position."""
        reply = await self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)})
        return self._result(reply)

    async def call_named(self, method: str, params: dict[str, Any]) -> Any:
        """Call ``method`` with its parameters by name (optional ones may be left out)."""
        reply = await self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        return self._result(reply)

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Results in order; a failed call's slot holds its RpcError instead of raising."""
        if not calls:
            return []
        first = next(self._ids)
        body = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": list(p)} for i, (m, p) in enumerate(calls)]
        for _ in range(len(calls) - 1):
            next(self._ids)
        replies = await self._post(body)
        if isinstance(replies, dict):  # the whole batch was refused
            self._result(replies)
        by_id = {r.get("id"): r for r in replies}
        out: list[Any] = []
        for i in range(len(calls)):
            try:
                out.append(self._result(by_id.get(first + i)))
            except RpcError as exc:
                out.append(exc)
        return out

    # --- typed helpers ---------------------------------------------------------------------

    async def block_number(self) -> int:
        return int(await self.call("chain_blockNumber"))

    async def get_block(self, height: int, full: bool = False) -> dict[str, Any] | None:
        return await self.call("chain_getBlockByNumber", height, full)

    async def get_block_by_hash(self, block_hash: bytes | str, full: bool = False) -> dict[str, Any] | None:
        return await self.call("chain_getBlockByHash", block_hash if isinstance(block_hash, str) else _hex(block_hash), full)

    async def send_raw(self, raw: bytes) -> bytes:
        return _unhex(await self.call("tx_send", _hex(raw)))

    async def send_tx(self, tx: Transaction) -> bytes:
        return await self.send_raw(tx.encode())

    async def get_tx(self, tx_hash: bytes | str) -> dict[str, Any] | None:
        return await self.call("tx_get", tx_hash if isinstance(tx_hash, str) else _hex(tx_hash))

    async def get_receipt(self, tx_hash: bytes | str, proof: bool = False) -> dict[str, Any] | None:
        return await self.call("tx_getReceipt", tx_hash if isinstance(tx_hash, str) else _hex(tx_hash), proof)

    async def wait_for_receipt(self, tx_hash: bytes | str, timeout: float = 30.0, poll: float = 0.05, proof: bool = False,
                               *, resend: bytes | None = None, resend_every: float = RESEND_EVERY) -> dict[str, Any]:
        """Poll until the transaction's receipt exists; raise ``TransactionDropped`` as soon as the
        node says it was dropped, ``ReceiptTimeout`` after ``timeout``.

        ``resend``: the transaction's signed bytes. Then a node that does not know the transaction
        (it was restarted without it, or lost it with a disk) is sent it again every
        ``resend_every`` seconds, and a node that cannot be reached is tried again until the
        deadline instead of failing at once. Resending is safe: a transaction commits at most
        once, and a node that has it answers "already known" (docs/reliability.md, "What an
        acknowledgement promises")."""
        deadline = time.monotonic() + timeout
        shown = tx_hash if isinstance(tx_hash, str) else _hex(tx_hash)
        polls = 0
        last_sent = time.monotonic()
        while True:
            try:
                receipt = await self.get_receipt(tx_hash, proof)
                if receipt is not None:
                    return receipt
                polls += 1
                if polls % 10 == 0 or time.monotonic() >= deadline:  # now and then: has it been dropped?
                    found = await self.call("tx_get", shown)
                    if found is not None and found.get("status") == "dropped":
                        raise TransactionDropped(f"transaction {shown} was dropped ({found.get('reason')}): "
                                                 f"{found.get('detail', '')}".rstrip(": "))
                    if found is None and resend is not None and time.monotonic() - last_sent >= resend_every:
                        last_sent = time.monotonic()
                        await self._resend(resend)
            except Unavailable:
                if resend is None:
                    raise
                # The node is down or restarting: keep trying until the deadline.
            if time.monotonic() >= deadline:
                raise ReceiptTimeout(f"no receipt for {shown} after {timeout:.0f}s (still pending, or lost with the node that had it)")
            await asyncio.sleep(poll)

    async def _resend(self, raw: bytes) -> None:
        try:
            await self.send_raw(raw)
        except RpcError as exc:
            if exc.code != DUPLICATE_TRANSACTION:  # known already: it is on its way
                raise

    async def query_raw(self, to: bytes, method: str, args: bytes = b"", sender: bytes | None = None) -> bytes:
        params: dict[str, Any] = {"to": _hex(to), "method": method, "args": _hex(args)}
        if sender is not None:
            params["from"] = _hex(sender)
        result = await self.call_named("state_call", params)
        return _unhex(result["return_value"])

    async def query_proven(self, to: bytes, method: str, args: bytes = b"", sender: bytes | None = None) -> dict[str, Any]:
        """``state_call(..., proof=true)``: the answer as is, for ``node.sdk.verify.verify_call_proof``."""
        params: dict[str, Any] = {"to": _hex(to), "method": method, "args": _hex(args), "proof": True}
        if sender is not None:
            params["from"] = _hex(sender)
        result: dict[str, Any] = await self.call_named("state_call", params)
        return result

    async def query(self, to: bytes, method: str, args: Any = None, sender: bytes | None = None) -> Any:
        return decode_return(await self.query_raw(to, method, encode_args(args), sender))

    async def node_info(self) -> dict[str, Any]:
        return await self.call("node_info")

    # --- subscriptions ---------------------------------------------------------------------

    async def subscribe(
        self,
        topic: str,
        from_height: int,
        filter: dict[str, Any] | None = None,
        *,
        reconnect: bool = True,
        max_backoff: float = 5.0,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield each notification's ``params`` (``height``, ``result``) in height order.

        The iterator keeps a cursor: after a dropped connection it reconnects with backoff and
        resubscribes from the last delivered height + 1, so the consumer sees every height once.
        Persist ``params["height"]`` after processing to resume across restarts.
        """
        cursor = from_height
        backoff = 0.1
        ws_url = self.url.replace("http://", "ws://").replace("https://", "wss://") + "/ws"
        while True:
            try:
                async with self._http().ws_connect(ws_url, max_msg_size=0, heartbeat=30) as ws:
                    params: dict[str, Any] = {"topic": topic, "from_height": cursor}
                    if filter:
                        params["filter"] = filter
                    await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "sub_subscribe", "params": params})
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        data = json.loads(msg.data)
                        if data.get("id") == 1 and "error" in data:
                            self._result(data)
                        if data.get("method") != "sub_notify":
                            continue
                        note = data["params"]
                        if note["height"] < cursor:
                            continue  # never deliver a height twice
                        cursor = note["height"] + 1
                        backoff = 0.1
                        yield note
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                if not reconnect:
                    raise Unavailable(f"subscription to {ws_url} failed: {exc.__class__.__name__}") from None
            if not reconnect:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)


@dataclass
class Account:
    """A key bound to a node: builds, signs and sends transactions for it."""

    client: RpcClient
    key: KeyPair
    suite: CryptoSuite
    chain_id: str
    expiry_window: int

    @classmethod
    async def connect(cls, client: RpcClient, key: KeyPair) -> Account:
        info = await client.node_info()
        if info["suite"] != key.suite:
            raise ConsortiaError(f"key is a '{key.suite}' key but the chain uses the '{info['suite']}' suite")
        return cls(client=client, key=key, suite=get_suite(info["suite"]), chain_id=info["chain_id"],
                   expiry_window=int(info["params"]["tx_expiry_window"]))

    @property
    def address(self) -> bytes:
        return self.suite.address(self.key.public_bytes)

    async def build(self, to: bytes, method: str, args: Any = None, *, fuel_limit: int = 1_000_000,
                    raw_args: bytes | None = None, head: int | None = None) -> Transaction:
        if head is None:
            head = await self.client.block_number()
        return build_transaction(
            self.suite,
            self.key,
            chain_id=self.chain_id,
            to=to,
            method=method,
            args=raw_args if raw_args is not None else encode_args(args),
            fuel_limit=fuel_limit,
            # Generous: ``head`` is this node's, which may lag the network (just restarted, catching
            # up); a margin of a few blocks would be expired on arrival at the validators.
            expiry_height=head + max(1, min(EXPIRY_MARGIN, self.expiry_window - 1)),
        )

    async def send(self, to: bytes, method: str, args: Any = None, *, fuel_limit: int = 1_000_000, wait: bool = True,
                   timeout: float = 30.0, raw_args: bytes | None = None) -> dict[str, Any]:
        """Send a call; returns ``{"hash": ..., "receipt": ...}`` (receipt None when not waiting)."""
        tx = await self.build(to, method, args, fuel_limit=fuel_limit, raw_args=raw_args)
        raw = tx.encode()
        tx_hash = await self.client.send_raw(raw)
        receipt = await self.client.wait_for_receipt(tx_hash, timeout, resend=raw) if wait else None
        return {"hash": "0x" + tx_hash.hex(), "receipt": receipt}
