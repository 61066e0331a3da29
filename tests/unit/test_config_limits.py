"""Connection limits in config.toml: defaults written by net init, read back, and bad values
refused with the setting's name."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w

from node.config import NodeConfig
from node.errors import ConfigError


def _write(home: Path, **sections) -> None:
    raw = NodeConfig(name="v", role="validator").to_toml()
    for name, values in sections.items():
        raw[name].update(values)
    (home / "config.toml").write_text(tomli_w.dumps(raw))


def test_defaults_round_trip(tmp_path):
    NodeConfig(name="v", role="validator").save(tmp_path)
    cfg = NodeConfig.load(tmp_path)
    assert (cfg.p2p.handshake_timeout, cfg.p2p.max_pending, cfg.p2p.max_pending_per_ip) == (5.0, 256, 8)
    assert (cfg.p2p.keepalive_interval, cfg.p2p.idle_timeout) == (5.0, 20.0)
    assert (cfg.rpc.max_connections, cfg.rpc.max_pending, cfg.rpc.max_pending_per_ip, cfg.rpc.handshake_timeout) == (4096, 512, 256, 10.0)
    assert (cfg.limits.open_files, cfg.limits.fd_reserve, cfg.limits.log_interval) == (65536, 128, 10.0)


def test_a_config_without_the_new_sections_gets_the_defaults(tmp_path):
    (tmp_path / "config.toml").write_text('[node]\nname = "v"\nrole = "validator"\n[p2p]\nport = 1\n')
    assert NodeConfig.load(tmp_path).limits.fd_reserve == 128


@pytest.mark.parametrize("sections, named", [
    ({"p2p": {"handshake_timeout": 0}}, "p2p.handshake_timeout"),
    ({"p2p": {"handshake_timeout": "5"}}, "p2p.handshake_timeout"),
    ({"p2p": {"max_pending": 0}}, "p2p.max_pending"),
    ({"p2p": {"max_pending_per_ip": 300}}, "p2p.max_pending_per_ip must not exceed p2p.max_pending"),
    ({"p2p": {"keepalive_interval": 10.0, "idle_timeout": 15.0}}, "p2p.idle_timeout"),
    ({"rpc": {"max_connections": True}}, "rpc.max_connections"),
    ({"rpc": {"handshake_timeout": -1}}, "rpc.handshake_timeout"),
    ({"limits": {"fd_reserve": 2}}, "limits.fd_reserve"),
    ({"limits": {"open_files": -5}}, "limits.open_files"),
    ({"limits": {"no_such": 1}}, "unknown setting"),
])
def test_bad_limits_are_refused_naming_the_setting(tmp_path, sections, named):
    _write(tmp_path, **sections)
    with pytest.raises(ConfigError) as err:
        NodeConfig.load(tmp_path)
    assert named in err.value.message and "\n" not in err.value.message
