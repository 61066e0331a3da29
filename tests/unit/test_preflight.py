"""``node check`` / ``node run`` preflight: a deliberately broken node home reports every problem at once."""

from __future__ import annotations

import json
import shutil
import socket
from collections import namedtuple
from pathlib import Path

import pytest

from node.chain import Chain
from node.cli.main import main
from node.keyfile import load_key, save_key
from node.preflight import check_home, config_problems
from node.store.chainstore import ChainStore

Usage = namedtuple("Usage", "total used free")
PLENTY = lambda path: Usage(10**12, 0, 10**12)  # noqa: E731


@pytest.fixture
def net(tmp_path, capsys):
    from node.devnet import free_port_block

    assert main(["net", "init", str(tmp_path / "net"), "--validators", "1", "--observers", "1", "--suite", "std",
                 "--base-port", str(free_port_block(2))]) == 0
    capsys.readouterr()
    return tmp_path / "net"


def test_a_good_home_has_no_errors(net):
    found = check_home(net / "validator-0", disk=PLENTY)
    assert found.errors == [] and found.warnings == []
    assert any("certificate" in line and "signed by the consortium CA" in line for line in found.ok)


def test_every_problem_of_a_broken_home_is_reported_at_once(net, tmp_path):
    home = net / "validator-0"
    config = (home / "config.toml").read_text()
    config = config.replace("[pool]", "[pool]\nsize_mb = 3")  # unknown key
    config = config.replace("max_batch = 500", 'max_batch = "lots"')  # wrong type
    config += "\n[colour]\nenabled = true\n"  # unknown section
    (home / "config.toml").write_text(config)
    (home / "node.key").chmod(0o644)  # loose permissions
    shutil.copy(net / "observer-0" / "tls" / "node.crt", home / "tls" / "node.crt")  # another node's certificate
    # A database of another chain.
    other = json.loads((home / "genesis.json").read_text())
    other["chain_id"] = "another-chain"
    from node.genesis import Genesis

    store = ChainStore(home / "data")
    Chain(Genesis.from_json(other), store)
    store.close()
    found = check_home(home, disk=lambda p: Usage(10**9, 10**9, 10 * 1024 * 1024))
    text = "\n".join(found.errors)
    assert "unknown setting pool.size_mb" in text
    assert "rpc.max_batch must be an integer (got 'lots')" in text
    assert "unknown section [colour]" in text
    assert "node.key is accessible to other users (mode 0644)" in text
    assert "is for another TLS key" in text or "another node's chain key" in text
    assert "belongs to a different chain" in text
    assert "MiB free on its disk" in text
    assert len(found.errors) == 7, found.errors


def test_a_port_in_use_and_a_wrong_passphrase(net, tmp_path):
    home = net / "validator-0"
    save_key(home / "node.key", load_key(home / "node.key"), "the right passphrase")
    from node.config import NodeConfig

    port = NodeConfig.load(home).rpc.port
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        found = check_home(home, lambda p: "the wrong passphrase", disk=PLENTY)
    text = "\n".join(found.errors)
    assert f"rpc.port {port} on 127.0.0.1 is in use by another process" in text
    assert "wrong passphrase" in text
    unchecked = check_home(home, None, disk=PLENTY)
    assert any("passphrase was not checked" in w for w in unchecked.warnings)


def test_config_problems_and_the_cli(net, capsys):
    home = net / "observer-0"
    (home / "config.toml").write_text('[node]\nrole = 3\n[rpc]\nport = "x"\n')
    problems = config_problems(home / "config.toml")
    assert problems == [f"{home / 'config.toml'}: node.role must be a string (got 3)",
                        f"{home / 'config.toml'}: rpc.port must be an integer (got 'x')",
                        f"{home / 'config.toml'}: missing setting node.name"]
    assert main(["node", "check", "--home", str(home)]) == 1
    out = capsys.readouterr().out
    assert out.count("error   ") == 3
    assert main(["node", "run", "--home", str(home)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)


def test_node_run_on_a_missing_home_is_one_line(tmp_path, capsys):
    assert main(["node", "run", "--home", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"error: node home {tmp_path / 'nope'} does not exist"]


def test_old_config_spelling_is_accepted(net):
    home = net / "validator-0"
    text = (home / "config.toml").read_text().replace('role = "validator"', 'role = "validator"\nlog_level = "debug"')
    (home / "config.toml").write_text(text)
    assert config_problems(home / "config.toml") == []
    assert Path(home / "config.toml").exists()


def test_the_operator_guide_lists_every_setting_with_its_default():
    from node.preflight import _schema

    guide = (Path(__file__).resolve().parents[2] / "docs" / "operator-guide.md").read_text()
    table = guide.split("#### Every setting", 1)[1].split("\n\n", 2)[1]
    rows = {line.split("|")[1].strip().strip("`"): line.split("|")[3].strip() for line in table.splitlines()[2:]}
    for section, keys in _schema().items():
        for key, default in keys.items():
            if (section, key) == ("node", "log_level"):
                continue  # the older spelling of log.level, read but not written
            name = f"{section}.{key}"
            assert name in rows, f"{name} is not in the operator guide's settings table"
            if section != "node":
                shown = "true" if default is True else "false" if default is False else default
                assert rows[name].strip("`") in (str(shown), repr(shown), f'"{shown}"', "[]" if shown == [] else None), (name, rows[name])
    schema_names = {f"{s}.{k}" for s, ks in _schema().items() for k in ks}
    assert set(rows) <= schema_names, set(rows) - schema_names
