"""A node runs on a node key encrypted at rest, and refuses to start with the wrong passphrase in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from node.config import KEY_FILE
from node.devnet import make_local_net
from node.keyfile import PASSPHRASE_ENV, load_key, save_key
from node.sdk import RpcClient
from tests.integration.test_consensus_network import wait_height

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
    assert node.key.private_bytes.hex() not in (node.home / KEY_FILE).read_text()
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
        assert PASS not in err.decode() and node.key.private_bytes.hex() not in err.decode()
