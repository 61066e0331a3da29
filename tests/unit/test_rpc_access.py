"""Admin-only methods, per-client rate limits, and local settings that contradict the chain."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from node.app import open_node
from node.cli.main import main
from node.config import NodeConfig, check_against_chain
from node.errors import ConfigError
from node.params import PARAMS, ChainParams
from node.rpc.access import ADMIN_TOKEN_FILE, AccessPolicy, load_or_make_token
from node.rpc.handlers import all_methods
from node.rpc.ratelimit import RateLimiter
from tests.unit.rpc_node import rpc_node


def test_only_node_internals_are_admin_only():
    assert {m.name for m in all_methods() if m.admin} == {"node_peers"}


async def test_admin_methods_need_the_local_machine_or_the_token(tmp_path: Path):
    policy = AccessPolicy(admin_from_localhost=False, token="s3cret")  # as if every caller were remote
    async with rpc_node(tmp_path, run_engine=False, access=policy) as n:
        refused = await n.call("node_peers")
        assert refused["error"]["code"] == -32008 and "admin method" in refused["error"]["message"]
        for wrong in ("Bearer nope", "s3cret", "Basic s3cret"):
            _, reply, _ = await n.post({"jsonrpc": "2.0", "id": 1, "method": "node_peers"}, headers={"Authorization": wrong})
            assert reply["error"]["code"] == -32008, wrong
        _, reply, _ = await n.post({"jsonrpc": "2.0", "id": 1, "method": "node_peers"},
                                   headers={"Authorization": "Bearer s3cret"})
        assert reply["result"] == []
        assert "result" in await n.call("node_info")  # public methods stay public
    async with rpc_node(tmp_path / "local", run_engine=False) as n:  # the default: loopback callers are admins
        assert (await n.call("node_peers"))["result"] == []


async def test_public_callers_are_rate_limited_per_request_and_admins_are_not(tmp_path: Path):
    policy = AccessPolicy(admin_from_localhost=False, token="t", limiter=RateLimiter(rate=0.001, burst=3))
    async with rpc_node(tmp_path, run_engine=False, access=policy) as n:
        _, batch, _ = await n.post([{"jsonrpc": "2.0", "id": i, "method": "chain_blockNumber"} for i in range(5)])
        codes = [r.get("error", {}).get("code") for r in batch]
        assert codes == [None, None, None, -32016, -32016]  # each request of a batch takes a token
        limited = await n.call("chain_blockNumber")
        assert limited["error"]["code"] == -32016 and "at most" in limited["error"]["message"]
        _, reply, _ = await n.post({"jsonrpc": "2.0", "id": 1, "method": "chain_blockNumber"},
                                   headers={"Authorization": "Bearer t"})
        assert "result" in reply


def test_token_bucket_refills_and_forgets_the_least_recent_client():
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=2, clock=lambda: now[0], max_clients=2)
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    now[0] = 0.5  # one token back
    assert [limiter.allow("a") for _ in range(2)] == [True, False]
    assert limiter.allow("b") and limiter.allow("c")  # "a" is forgotten: the table stays bounded
    assert len(limiter._buckets) == 2 and "a" not in limiter._buckets
    with pytest.raises(ValueError):
        RateLimiter(rate=0, burst=1)


def test_callers_from_loopback_are_admins_unless_switched_off():
    policy = AccessPolicy(token="x")
    assert policy.caller("127.0.0.1", None).admin and policy.caller("::1", None).admin
    assert not policy.caller("10.1.2.3", None).admin and not policy.caller(None, None).admin
    assert policy.caller("10.1.2.3", "Bearer x").admin
    assert not AccessPolicy(admin_from_localhost=False).caller("127.0.0.1", None).admin


def test_the_admin_token_is_made_once_and_private(tmp_path: Path):
    token = load_or_make_token(tmp_path)
    assert len(token) == 64 and load_or_make_token(tmp_path) == token
    assert (tmp_path / ADMIN_TOKEN_FILE).stat().st_mode & 0o077 == 0


def test_local_config_that_contradicts_a_chain_parameter_stops_the_node(tmp_path: Path):
    params = ChainParams(**{name: spec.default for name, spec in PARAMS.items()})
    config = NodeConfig(name="n", role="validator")
    check_against_chain(config, params)  # the defaults agree
    config.rpc.max_body_bytes = 100_000
    with pytest.raises(ConfigError, match="rpc.max_body_bytes = 100000 contradicts the chain parameter max_tx_bytes = 655360"):
        check_against_chain(config, params)
    root = tmp_path / "net"
    assert main(["net", "init", str(root), "--validators", "1", "--base-port", "31000"]) == 0
    home = root / "validator-0"
    text = (home / "config.toml").read_text().replace("max_body_bytes = 4194304", "max_body_bytes = 100000")
    (home / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match="max_tx_bytes"):
        open_node(home)


@pytest.mark.parametrize(("line", "message"), [
    ("rate_limit_per_s = -1", "rate_limit_per_s"),
    ("rate_burst = 0", "rate_burst"),
    ('admin_from_localhost = "yes"', "admin_from_localhost"),
])
def test_bad_rate_settings_are_refused(tmp_path: Path, line: str, message: str):
    NodeConfig(name="n", role="validator").save(tmp_path)
    key = line.split(" = ")[0]
    text = re.sub(rf"^{key} = .*$", line, (tmp_path / "config.toml").read_text(), flags=re.MULTILINE)
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        NodeConfig.load(tmp_path)
