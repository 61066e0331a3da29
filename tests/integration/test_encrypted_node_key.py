"""A node runs on a node key and a TLS key encrypted at rest with one passphrase, joins its network and
votes; it refuses to start with a wrong or missing passphrase in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from node.cli.main import main
from node.config import KEY_FILE
from node.devnet import make_local_net
from node.keyfile import PASSPHRASE_ENV, key_info, load_key, save_key
from node.p2p.tlskey import decode, is_encrypted, tls_key_path, write_tls_key
from node.sdk import RpcClient
from tests.integration.test_consensus_network import PARAMS, heights, wait_height

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
PASS = "validator zero passphrase"


def _run(home: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "node.cli.main", "node", "run", "--home", str(home), *extra], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})},
                            stdin=subprocess.DEVNULL)


async def test_a_node_on_an_encrypted_key(tmp_path):
    net = make_local_net(tmp_path, "sm", validators=1, params={"block_interval_ms": 100})
    node = net.nodes[0]
    save_key(node.home / KEY_FILE, load_key(node.home / KEY_FILE), PASS)
    tls_key = decode(tls_key_path(node.home).read_bytes(), None, tls_key_path(node.home))
    write_tls_key(tls_key_path(node.home), tls_key, PASS)
    assert node.key.private_bytes.hex() not in (node.home / KEY_FILE).read_text()
    tls_scalar = f"{tls_key.private_numbers().private_value:064x}"
    good, bad = tmp_path / "good", tmp_path / "bad"
    for path, text in ((good, PASS), (bad, "not the passphrase")):
        path.write_text(text + "\n")
        path.chmod(0o600)

    for extra, env in ((["--passphrase-file", str(bad)], None), ([], {PASSPHRASE_ENV: ""})):
        proc = _run(node.home, *extra, env=env)
        out, err = proc.communicate(timeout=60)
        lines = err.decode().strip().splitlines()
        assert proc.returncode != 0 and len(lines) == 1, err.decode()
        assert str(node.home / KEY_FILE) in lines[0]
        assert ("wrong passphrase" in lines[0]) if extra else ("is encrypted" in lines[0])

    for extra, env in ((["--passphrase-file", str(good)], None), ([], {PASSPHRASE_ENV: PASS})):
        proc = _run(node.home, *extra, env=env)
        try:
            assert await wait_height(net, [0], 3, 60), (proc.poll(), proc.stderr.read1().decode() if proc.poll() is not None else "")
            async with RpcClient(node.url) as c:
                info = await c.node_info()
            assert info["node_pubkey"] == "0x" + node.key.public_bytes.hex()
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
        assert PASS not in err.decode() and node.key.private_bytes.hex() not in err.decode() and tls_scalar not in err.decode()


async def test_a_validator_with_both_keys_encrypted_joins_and_its_votes_commit(tmp_path, monkeypatch, capsys):
    """Four PBFT validators, one of them encrypted with 'key change-passphrase' (node key and TLS key):
    after another validator stops, blocks need its votes over its TLS links to commit."""
    net = make_local_net(tmp_path, "std", validators=4, params=PARAMS)
    home = net.nodes[3].home
    passfile = tmp_path / "pass"
    passfile.write_text(PASS + "\n")
    passfile.chmod(0o600)
    assert main(["key", "change-passphrase", str(home / KEY_FILE), "--new-passphrase-file", str(passfile)]) == 0
    assert key_info(home / KEY_FILE).encrypted and is_encrypted(tls_key_path(home).read_bytes())
    capsys.readouterr()
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)  # the three plaintext homes ignore it
    net.start()
    try:
        await net.wait_ready(60)
        assert await wait_height(net, range(4), 3, 60), (await heights(net, range(4)), net.nodes[3].log_tail())
        net.nodes[0].stop()
        start = max(await heights(net, [1, 2, 3]))
        # 3 of 4 validators left: every commit certificate now needs validator-3's signature
        assert await wait_height(net, [1, 2, 3], start + 3, 60), (await heights(net, [1, 2, 3]), net.nodes[3].log_tail())
        async with RpcClient(net.nodes[1].url) as c:
            block = await c.get_block(start + 2)
        signers = {vote["validator"] for vote in block["certificate"]["votes"]}
        assert "0x" + net.nodes[3].key.public_bytes.hex() in signers, block["certificate"]
    finally:
        net.stop()
    assert PASS not in net.nodes[3].log_path.read_text()

