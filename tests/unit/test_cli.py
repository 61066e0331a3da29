"""CLI commands in-process: key and net init files, usage errors, one-line failures."""

from __future__ import annotations

import json

import pytest

from node.cli.main import main
from node.config import NodeConfig, load_key
from node.crypto import get_suite
from node.genesis import Genesis


@pytest.mark.parametrize("suite", ["sm", "std"])
def test_net_init_writes_a_loadable_network(tmp_path, suite, capsys):
    root = tmp_path / "net"
    assert main(["net", "init", str(root), "--validators", "2", "--observers", "1", "--suite", suite,
                 "--consensus", "raft", "--base-port", "30000"]) == 0
    genesis = Genesis.load(root / "genesis.json")
    assert genesis.suite == suite and genesis.consensus == "raft"
    assert [n.role for n in genesis.nodes] == ["validator", "validator", "observer"]
    network = json.loads((root / "network.json").read_text())
    assert [n["rpc_url"] for n in network["nodes"]] == [f"http://127.0.0.1:{30000 + 10 * i}" for i in range(3)]
    addresses = {n: get_suite(suite).address(load_key(root / n / "admin.key").public_bytes)
                 for n in ("validator-0", "validator-1", "observer-0")}
    members = {addresses["validator-0"]: 1, addresses["validator-1"]: 1}  # one organisation per node, equal weights
    assert genesis.committee == members and set(genesis.deploy_accounts) == set(members)
    assert genesis.roles == {"regulator": (addresses["observer-0"],)}  # the observer's organisation: non-voting
    assert [n["admin"] for n in network["nodes"]] == ["0x" + a.hex() for a in addresses.values()]
    assert not (root / "admin.key").exists()
    for entry, node in zip(network["nodes"], genesis.nodes):
        home = root / entry["home"]
        assert Genesis.load(home / "genesis.json") == genesis
        assert load_key(home / "node.key").public_bytes == node.pubkey
        assert (home / "node.key").stat().st_mode & 0o077 == 0
        assert (home / "admin.key").stat().st_mode & 0o077 == 0
        cfg = NodeConfig.load(home)
        assert cfg.role == node.role and cfg.p2p.port == node.p2p_port


def test_net_init_refuses_non_empty_dir(tmp_path, capsys):
    (tmp_path / "x").write_text("keep me")
    assert main(["net", "init", str(tmp_path), "--validators", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "not empty" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["0", "-1", "abc"])
def test_bad_validator_count_is_a_usage_error(tmp_path, value, capsys):
    assert main(["net", "init", str(tmp_path / "n"), "--validators", value]) == 2
    assert "--validators" in capsys.readouterr().err


def test_port_range_checked(tmp_path, capsys):
    assert main(["net", "init", str(tmp_path / "n"), "--validators", "4", "--base-port", "65530"]) == 1
    assert "65536" in capsys.readouterr().err


def test_key_new_and_show(tmp_path, capsys):
    out = tmp_path / "k.key"
    assert main(["key", "new", "--suite", "sm", "--out", str(out)]) == 0
    created = capsys.readouterr().out
    assert main(["key", "new", "--suite", "sm", "--out", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["key", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert created.splitlines()[1] == shown.splitlines()[1]  # same address
    assert main(["key", "show", str(tmp_path / "missing.key")]) == 1
    assert "not found" in capsys.readouterr().err


def test_unreachable_node_is_one_line(tmp_path, capsys):
    key = tmp_path / "k.key"
    main(["key", "new", "--suite", "std", "--out", str(key)])
    capsys.readouterr()
    code = main(["tx", "send", "--rpc", "http://127.0.0.1:9", "--key", str(key), "--to", "0x" + "00" * 18 + "1000",
                 "--method", "list"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: cannot reach node") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv,needle", [
    (["tx", "send", "--key", "{key}", "--to", "1000", "--method", "m"], "must start with 0x"),
    (["tx", "send", "--key", "{key}", "--to", "0x1234", "--method", "m"], "20 bytes"),
    (["tx", "send", "--key", "{key}", "--to", "0x" + "00" * 20, "--method", "m", "--args", "{bad"], "not valid JSON"),
    (["tx", "receipt", "0x12"], "not a transaction hash"),
    (["chain", "info", "--net", "{missing}"], "not found"),
    (["contract", "deploy", "--key", "{key}", "--wasm", "{missing}"], "cannot read"),
    (["contract", "deploy", "--key", "{key}", "--builtin", "nope"], "no prebuilt contract 'nope'"),
    (["contract", "deploy", "--key", "{key}", "--builtin", "evidence", "--init-args", "{bad"], "not valid JSON"),
    (["contract", "query", "--to", "0x12", "--method", "count"], "20 bytes"),
    (["evidence", "record", "--key", "{key}", "--contract", "0x" + "00" * 20, "--hash", "abc", "--kind", "x",
      "--rpc", "http://127.0.0.1:9"], "0x-prefixed"),
    (["evidence", "get", "--contract", "0x" + "00" * 20, "--file", "{missing}", "--rpc", "http://127.0.0.1:9"], "cannot read"),
])
def test_bad_arguments_fail_in_one_line(tmp_path, capsys, argv, needle):
    key = tmp_path / "k.key"
    main(["key", "new", "--suite", "std", "--out", str(key)])
    capsys.readouterr()
    argv = [a.replace("{key}", str(key)).replace("{missing}", str(tmp_path / "nope")) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("node", "net", "key", "tx", "chain", "contract", "evidence", "demo", "bench"):
        assert cmd in out


@pytest.mark.parametrize("args", [["--seconds", "0"], ["--rate", "-1"]])
def test_chaos_refuses_non_positive_durations_and_rates_in_one_line(args, capsys):
    assert main(["chaos", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "must be positive" in err and len(err.strip().splitlines()) == 1
