"""The HTTP and WebSocket transport's rules for browsers: JSON bodies only, CORS off by default,
an explicit allow-list of origins that covers preflights, responses and WebSocket handshakes."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from node.config import ConfigError, NodeConfig, RpcConfig
from node.rpc.origin import json_content_type
from tests.unit.rpc_node import rpc_node

PING = {"jsonrpc": "2.0", "id": 1, "method": "chain_blockNumber"}
APP = "https://app.example.com"


@pytest.mark.parametrize("header,ok", [
    ("application/json", True),
    ("application/json; charset=utf-8", True),
    ("Application/JSON;charset=\"UTF-8\"", True),
    ("text/plain", False),
    ("text/plain;charset=UTF-8", False),
    ("application/x-www-form-urlencoded", False),
    ("multipart/form-data; boundary=x", False),
    ("application/json; charset=latin-1", False),
    ("application/json; foo=bar", False),
    ("application/jsonx", False),
    (None, False),
])
def test_content_type_rule(header, ok):
    assert json_content_type(header) is ok


async def test_only_json_bodies_are_answered(tmp_path: Path):
    async with rpc_node(tmp_path, run_engine=False) as n:
        for ctype in ("text/plain", "application/x-www-form-urlencoded", None, "application/json; charset=latin-1"):
            status, reply, headers = await n.post(PING, content_type=ctype)
            assert status == 415, ctype
            assert reply["error"]["code"] == -32600 and "application/json" in reply["error"]["message"]
            assert "Access-Control-Allow-Origin" not in headers
        for ctype in ("application/json", "application/json; charset=utf-8"):
            status, reply, _ = await n.post(PING, content_type=ctype)
            assert status == 200 and reply["result"] == 0
        calls = n.rpc.env.metrics.value("consortia_rpc_calls_total", {"method": "chain_blockNumber"})
        assert calls == 2  # the refused ones never ran


async def test_cors_is_off_by_default(tmp_path: Path):
    async with rpc_node(tmp_path, run_engine=False) as n:
        async with n.session.options(n.url, headers={"Origin": APP, "Access-Control-Request-Method": "POST",
                                                     "Access-Control-Request-Headers": "content-type"}) as resp:
            assert resp.status == 403 and (await resp.json())["error"]["code"] == -32008
            assert not [h for h in resp.headers if h.lower().startswith("access-control-")]
        status, reply, headers = await n.post(PING, headers={"Origin": APP})
        assert status == 403 and reply["error"]["code"] == -32008
        assert not [h for h in headers if h.lower().startswith("access-control-")]
        status, reply, headers = await n.post(PING)  # not from a browser: no Origin, no CORS
        assert status == 200 and not [h for h in headers if h.lower().startswith("access-control-")]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with n.session.ws_connect(n.url + "/ws", origin=APP):
                pass
        assert refused.value.status == 403
        async with n.session.ws_connect(n.url + "/ws") as ws:  # no Origin: a program, not a page
            await ws.send_json(PING)
            assert (await ws.receive_json())["result"] == 0


async def test_listed_origins_get_cors_and_others_do_not(tmp_path: Path):
    async with rpc_node(tmp_path, run_engine=False, cors_origins=(APP, "http://localhost:3000")) as n:
        preflight = {"Origin": APP, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
        async with n.session.options(n.url, headers=preflight) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == APP and resp.headers["Vary"] == "Origin"
            assert resp.headers["Access-Control-Allow-Methods"] == "POST"
            assert resp.headers["Access-Control-Allow-Headers"].lower() == "content-type"
        async with n.session.options(n.url, headers={**preflight, "Origin": "https://evil.example"}) as resp:
            assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers
        status, reply, headers = await n.post(PING, headers={"Origin": APP})
        assert status == 200 and reply["result"] == 0 and headers["Access-Control-Allow-Origin"] == APP
        status, reply, headers = await n.post(PING, content_type="text/plain", headers={"Origin": APP})
        assert status == 415 and headers["Access-Control-Allow-Origin"] == APP  # the page may read why
        status, reply, headers = await n.post(PING, headers={"Origin": "http://localhost:3001"})
        assert status == 403 and reply["error"]["code"] == -32008 and "Access-Control-Allow-Origin" not in headers
        async with n.session.ws_connect(n.url + "/ws", origin="http://localhost:3000") as ws:
            await ws.send_json(PING)
            assert (await ws.receive_json())["result"] == 0
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with n.session.ws_connect(n.url + "/ws", origin="null"):
                pass
        assert refused.value.status == 403


def test_cors_origins_in_config_toml(tmp_path: Path):
    cfg = NodeConfig(name="v0", role="validator", rpc=RpcConfig(cors_origins=["https://App.Example.com", "http://127.0.0.1:8080"]))
    cfg.save(tmp_path)
    assert NodeConfig.load(tmp_path).rpc.cors_origins == ["https://app.example.com", "http://127.0.0.1:8080"]
    NodeConfig(name="v0", role="validator").save(tmp_path)
    assert NodeConfig.load(tmp_path).rpc.cors_origins == []
    for bad in (["*"], ["https://app.example.com/"], ["app.example.com"], ["https://a.example/path"], "https://a.example", [1]):
        text = (tmp_path / "config.toml").read_text()
        (tmp_path / "config.toml").write_text(text.replace("[rpc]\n", f"[rpc]\ncors_origins = {_toml(bad)}\n", 1))
        with pytest.raises(ConfigError, match="cors_origins"):
            NodeConfig.load(tmp_path)
        NodeConfig(name="v0", role="validator").save(tmp_path)


def _toml(value: object) -> str:
    import json

    return json.dumps(value)
