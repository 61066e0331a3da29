"""The business-contract commands: every verb has --help, and bad input fails in one line before any network call."""

from __future__ import annotations

import argparse

import pytest

from node.cli.main import build_parser, main

COMMANDS = ("did", "catalog", "points", "task", "rights")


def _verbs(command: str) -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    inner = sub.choices[command]
    verbs = next(a for a in inner._actions if isinstance(a, argparse._SubParsersAction))
    return list(verbs.choices)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_verb_has_help(command: str, capsys):
    verbs = _verbs(command)
    assert len(verbs) >= 4
    for verb in verbs:
        assert main([command, verb, "--help"]) == 0
    assert "--net" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["did", "resolve", "--id", "bank"], "give --net DIR (with a contracts.json) or --contract ADDRESS of the did contract"),
    (["catalog", "search", "--rpc", "http://127.0.0.1:1", "--contract", "0x12"], "must be 20 bytes"),
    (["points", "balance", "--account", "nothex", "--contract", "0x" + "11" * 20], "must start with 0x"),
])
def test_bad_input_fails_in_one_line(argv: list[str], message: str, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_contracts_json_says_how_to_deploy(tmp_path, capsys):
    (tmp_path / "network.json").write_text('{"nodes": [{"rpc_url": "http://127.0.0.1:1", "name": "v", "role": "validator"}]}')
    assert main(["catalog", "show", "--net", str(tmp_path), "--id", "1"]) == 1
    assert "deploy-all" in capsys.readouterr().err
