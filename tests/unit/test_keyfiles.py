"""Key files are owner-only however they were before, and a node refuses keys others may read."""

from __future__ import annotations

import os
import stat

import pytest

from node.config import load_key, save_key
from node.crypto import get_suite
from node.errors import ConfigError
from node.keyfiles import check_private, private_problem, write_private
from node.p2p.certs import make_ca, write_ca, write_node_tls


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_rewriting_an_existing_file_makes_it_owner_only(tmp_path):
    path = tmp_path / "k"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    write_private(path, b"new secret")
    assert _mode(path) == 0o600 and path.read_bytes() == b"new secret"


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


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o660])
def test_a_key_others_may_access_is_refused_with_the_fix(tmp_path, mode):
    path = tmp_path / "node.key"
    write_private(path, b"x")
    check_private(path)  # 0600 passes
    os.chmod(path, mode)
    with pytest.raises(ConfigError) as err:
        check_private(tmp_path / "missing.key", path)
    assert str(path) in err.value.message and f"chmod 600 {path}" in err.value.message
    assert "\n" not in err.value.message


def test_a_missing_file_is_left_to_its_reader(tmp_path):
    assert private_problem(tmp_path / "nope") is None
