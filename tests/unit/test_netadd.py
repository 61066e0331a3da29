"""``consortia net add-node``: a new organisation's node home, made without touching the network."""

from __future__ import annotations

import json
import shutil

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from node.cli.main import main
from node.config import NodeConfig, load_key
from node.genesis import Genesis
from node.p2p.certs import node_pubkey_from_cert


def make_net(tmp_path, capsys):
    root = tmp_path / "net"
    assert main(["net", "init", str(root), "--validators", "4", "--observers", "1", "--suite", "std", "--base-port", "30000"]) == 0
    capsys.readouterr()
    return root


def test_add_node_writes_a_home_that_the_ca_vouches_for(tmp_path, capsys):
    root = make_net(tmp_path, capsys)
    genesis_before = (root / "genesis.json").read_bytes()
    homes_before = {p.name: sorted(q.name for q in p.rglob("*")) for p in root.iterdir() if p.is_dir()}
    assert main(["net", "add-node", str(root), "--name", "org5"]) == 0
    out = capsys.readouterr().out
    home = root / "org5"
    key = load_key(home / "node.key")
    admin = load_key(home / "admin.key")
    assert key.suite == admin.suite == "std" and key.public_bytes != admin.public_bytes
    for secret in (home / "node.key", home / "admin.key", home / "tls" / "node.key"):
        assert secret.stat().st_mode & 0o077 == 0
    # The certificate chains to the consortium CA and names the node key.
    cert = x509.load_pem_x509_certificate((home / "tls" / "node.crt").read_bytes())
    ca = x509.load_pem_x509_certificate((root / "ca" / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert node_pubkey_from_cert(cert.public_bytes(Encoding.DER)) == key.public_bytes
    # Same genesis; not in it; the next ports of net init's layout.
    assert (home / "genesis.json").read_bytes() == genesis_before == (root / "genesis.json").read_bytes()
    genesis = Genesis.load(home / "genesis.json")
    assert key.public_bytes not in {n.pubkey for n in genesis.nodes}
    cfg = NodeConfig.load(home)
    assert (cfg.name, cfg.role, cfg.rpc.port, cfg.p2p.port) == ("org5", "observer", 30050, 30051)
    # Nothing of the existing nodes changed; network.json lists the new node for net up/status/down.
    assert {p.name: sorted(q.name for q in p.rglob("*")) for p in root.iterdir() if p.is_dir() and p.name != "org5"} == homes_before
    entry = json.loads((root / "network.json").read_text())["nodes"][-1]
    assert entry["name"] == "org5" and entry["rpc_url"] == "http://127.0.0.1:30050"
    # The admission proposal to run, with the node-list fields.
    line = next(ln for ln in out.splitlines() if "--type admit_observer" in ln)
    payload = json.loads(line.split("--args '", 1)[1].split("'", 1)[0])
    assert payload == {"pubkey": "0x" + key.public_bytes.hex(), "name": "org5", "host": "127.0.0.1", "p2p_port": 30051,
                       "organisation": "org5"}
    assert f"--key {root / 'validator-0' / 'admin.key'}" in line
    assert "0x" + key.public_bytes.hex() in out


def test_add_node_refuses_a_taken_name_or_port_and_a_missing_ca(tmp_path, capsys):
    root = make_net(tmp_path, capsys)
    for argv, why in (
        (["--name", "validator-0"], "already exists"),
        (["--name", "bad/name"], "must be letters"),
        (["--name", "x", "--p2p-port", "30001"], "already used"),
        (["--name", "x", "--rpc-port", "70000"], "out of range"),
    ):
        assert main(["net", "add-node", str(root), *argv]) == 1
        err = capsys.readouterr().err
        assert why in err and len(err.strip().splitlines()) == 1, err
    shutil.rmtree(root / "ca")
    assert main(["net", "add-node", str(root), "--name", "org5"]) == 1
    assert "CA key" in capsys.readouterr().err
    assert not (root / "org5").exists()
