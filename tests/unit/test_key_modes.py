"""Every writer of secret material leaves the file 0600, also over an existing file with a looser
mode (``net init --force`` used to keep 0644 on the TLS and CA keys)."""

from __future__ import annotations

import os
import stat

from node.config import load_key, save_key
from node.crypto import get_suite
from node.p2p.certs import make_ca, write_ca, write_node_tls


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_every_key_writer_sets_0600_over_a_readable_file(tmp_path):
    suite = get_suite("std")
    key = suite.generate_keypair()
    ca = make_ca("t")
    targets = [tmp_path / "node.key", tmp_path / "tls" / "node.key", tmp_path / "ca" / "ca.key"]
    save_key(targets[0], key)
    write_node_tls(tmp_path, ca, "n", key.public_bytes)
    write_ca(tmp_path / "ca", ca)
    for path in targets:
        os.chmod(path, 0o644)
    save_key(targets[0], key)
    write_node_tls(tmp_path, ca, "n", key.public_bytes)
    write_ca(tmp_path / "ca", ca)
    assert [_mode(p) for p in targets] == [0o600] * 3
    assert load_key(targets[0]).public_bytes == key.public_bytes
    assert (tmp_path / "tls" / "node.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")
