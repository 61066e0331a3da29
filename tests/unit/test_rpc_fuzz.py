"""Random JSON at every method, by position and by name, over the real HTTP endpoint (and the
WebSocket for the subscription methods): the node answers each call with a result or a
documented error, never an internal error, and keeps answering."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.rpc.handlers import all_methods

EDGE_INTS = [0, 1, -1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(EDGE_INTS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.binary(max_size=40).map(lambda b: "0x" + b.hex()),
    st.sampled_from(["0x", "0x0", "0xzz", "0x" + "00" * 18 + "1000", "0x" + "ab" * 32, "blocks", "events", "get", "list"]),
)
EDGES = st.sampled_from([*EDGE_INTS, "0x" + "ff" * 20, "0x" + "00" * 32, "0xc0", True, None])
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
param_values = st.one_of(EDGES, json_values)  # half the time a value at an edge of some parameter's range

METHODS = {m.name: m for m in all_methods()}


def params_for(draw: st.DrawFn, method: str, by_name: bool) -> Any:
    """Random parameters for ``method``: usually one value for each of its parameters (sometimes
    fewer, or one too many), by position, or by name with its own names (sometimes a stranger)."""
    names = list(METHODS[method].names)
    count = draw(st.sampled_from([len(names)] * 3 + list(range(len(names) + 2))))
    values = [draw(param_values) for _ in range(count)]
    if not by_name:
        return values
    params = {name: value for name, value in zip(names, values)}
    if count > len(names):
        params[draw(st.text(max_size=6))] = values[-1]
    return params


async def test_random_params_never_get_an_internal_error(node):
    net, chain, rpc, session, url = node
    loop = asyncio.get_running_loop()
    ws = await session.ws_connect(url + "/ws")
    counter = iter(range(1, 10**9))

    async def over_http(body: dict[str, Any]) -> Any:
        async with session.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 200, resp.status
            return await resp.json()

    async def over_ws(body: dict[str, Any]) -> Any:
        await ws.send_str(json.dumps(body))
        while True:
            msg = await asyncio.wait_for(ws.receive_json(), 10)
            if msg.get("id") == body["id"]:
                return msg

    def send(method: str, params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": next(counter), "method": method, "params": params}
        transport = over_ws if METHODS[method].websocket else over_http
        return asyncio.run_coroutine_threadsafe(transport(body), loop).result(timeout=30)

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        for method in sorted(METHODS):  # every method, both ways, in every example
            for by_name in (False, True):
                params = params_for(data.draw, method, by_name)
                reply = send(method, params)
                assert ("result" in reply) != ("error" in reply), reply
                if "error" in reply:
                    assert reply["error"]["code"] != -32603, (method, params, reply)
                    assert reply["error"]["message"], reply

    try:
        await asyncio.to_thread(fuzz)
    finally:
        await ws.close()
    assert rpc.env.metrics.value("consortia_rpc_errors_total", {"code": "-32603"}) == 0
    async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "chain_blockNumber"}) as resp:
        assert (await resp.json())["result"] >= 0
