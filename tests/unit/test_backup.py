"""Backups of a stopped node's database: what is written, and every way a restore refuses a bad file."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from node.chain import Chain
from node.errors import StoreError
from node.store.backup import MANIFEST, ROOT, create_backup, read_manifest, restore_backup
from node.store.chainstore import ChainStore
from tests.conftest import make_testnet


@pytest.fixture
def stopped_node(tmp_path):
    """A node home's database holding genesis, closed again (the node is stopped)."""
    net = make_testnet("std")
    data = tmp_path / "home" / "data"
    store = ChainStore(data)
    chain = Chain(net.genesis, store)
    head = chain.head()
    store.close()
    return net, data, head


def _genesis_hash(data: Path) -> bytes:
    store = ChainStore(data, create=False)
    try:
        value = store.get_block_hash(0)
        assert value is not None
        return value
    finally:
        store.close()


def _rewrite(backup: Path, out: Path, edit) -> None:
    """Copy a backup tar member by member through ``edit(name, bytes) -> list[(name, bytes)]``."""
    with tarfile.open(backup) as src, tarfile.open(out, "w") as dst:
        for member in src:
            body = src.extractfile(member).read()
            for name, data in edit(member.name, body):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                dst.addfile(info, io.BytesIO(data))


def test_backup_and_restore_round_trip(stopped_node, tmp_path):
    net, data, head = stopped_node
    out = tmp_path / "b.tar"
    manifest = create_backup(data, net.genesis.chain_id, out)
    assert manifest.height == head.height and manifest.head_hash == head.block_hash.hex()
    assert manifest.state_root == head.state_root.hex() and manifest.files
    assert read_manifest(out) == manifest
    assert (tmp_path / "b.tar.sha256").read_text().endswith("  b.tar\n")
    target = tmp_path / "other" / "data"
    restore_backup(out, target, genesis_hash=_genesis_hash(data), chain_id=net.genesis.chain_id)
    store = ChainStore(target, create=False)
    try:
        assert store.head_height == head.height and store.get_block_hash(head.height) == head.block_hash
    finally:
        store.close()
    assert not (tmp_path / "other" / "data.restoring").exists()


def test_a_running_node_is_neither_backed_up_nor_restored(stopped_node, tmp_path):
    net, data, _ = stopped_node
    out = tmp_path / "b.tar"
    create_backup(data, net.genesis.chain_id, out)
    genesis_hash = _genesis_hash(data)
    # Another process holds the database open, as a running node does (POSIX locks do not
    # conflict within one process, so the holder must be a separate one).
    holder = subprocess.Popen([sys.executable, "-c", HOLD_OPEN, str(data)], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"open\n"
        with pytest.raises(StoreError, match="locked by another process"):
            create_backup(data, net.genesis.chain_id, tmp_path / "c.tar")
        with pytest.raises(StoreError, match="in use"):
            restore_backup(out, data, genesis_hash=genesis_hash, chain_id=net.genesis.chain_id, force=True)
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "c.tar").exists() and not (tmp_path / "c.tar.partial").exists()
    assert [p.name for p in data.parent.iterdir()] == ["data"]


HOLD_OPEN = """
import sys, time
from node.store.chainstore import ChainStore
store = ChainStore(sys.argv[1], create=False)
print("open", flush=True)
time.sleep(60)
"""
REPO = Path(__file__).resolve().parents[2]


def test_restore_refuses_another_chain_and_an_existing_database(stopped_node, tmp_path):
    net, data, _ = stopped_node
    out = tmp_path / "b.tar"
    create_backup(data, net.genesis.chain_id, out)
    genesis_hash = _genesis_hash(data)
    with pytest.raises(StoreError, match="not of this node's chain"):
        restore_backup(out, tmp_path / "x" / "data", genesis_hash=b"\x01" * 32, chain_id=net.genesis.chain_id)
    with pytest.raises(StoreError, match="not of this node's chain"):
        restore_backup(out, tmp_path / "x" / "data", genesis_hash=genesis_hash, chain_id="other-chain")
    with pytest.raises(StoreError, match="already holds a database; use --force"):
        restore_backup(out, data, genesis_hash=genesis_hash, chain_id=net.genesis.chain_id)
    restore_backup(out, data, genesis_hash=genesis_hash, chain_id=net.genesis.chain_id, force=True)
    kept = [p for p in data.parent.iterdir() if p.name.startswith("data.before-restore-")]
    assert len(kept) == 1 and (kept[0] / "CURRENT").exists() and (data / "CURRENT").exists()


def _damaged(name: str, body: bytes):
    if name.endswith(".ldb") or name.endswith(".log"):
        return [(name, body[:-1] + bytes([body[-1] ^ 1]) if body else b"x")]
    return [(name, body)]


@pytest.mark.parametrize("edit, message", [
    (_damaged, "damaged"),
    (lambda n, b: [(n, b), (f"{ROOT}/data/EXTRA", b"x")] if n == MANIFEST else [(n, b)], "not a file listed once"),
    (lambda n, b: [(n, b), (f"{ROOT}/data/../../evil", b"x")] if n == MANIFEST else [(n, b)], "outside"),
    (lambda n, b: [(n, b)] if n == MANIFEST or not n.endswith("CURRENT") else [], "missing"),
    (lambda n, b: [(n, json.dumps({**json.loads(b), "format": "zip"}).encode())] if n == MANIFEST else [(n, b)], "not a Consortia node backup"),
    (lambda n, b: [(n, json.dumps({**json.loads(b), "version": 9}).encode())] if n == MANIFEST else [(n, b)], "version"),
    (lambda n, b: [(n, b)] if n != MANIFEST else [], "no consortia-backup/manifest.json first"),
])
def test_bad_backups_are_refused_and_the_home_is_unchanged(stopped_node, tmp_path, edit, message):
    net, data, _ = stopped_node
    good, bad = tmp_path / "good.tar", tmp_path / "bad.tar"
    create_backup(data, net.genesis.chain_id, good)
    _rewrite(good, bad, edit)
    genesis_hash = _genesis_hash(data)
    before = sorted((p.name, p.stat().st_size) for p in data.iterdir())
    with pytest.raises(StoreError, match=message):
        restore_backup(bad, data, genesis_hash=genesis_hash, chain_id=net.genesis.chain_id, force=True)
    assert sorted((p.name, p.stat().st_size) for p in data.iterdir()) == before
    assert [p.name for p in data.parent.iterdir()] == ["data"]


def test_a_backup_that_does_not_match_its_checksum_file_is_refused(stopped_node, tmp_path):
    net, data, _ = stopped_node
    out = tmp_path / "b.tar"
    create_backup(data, net.genesis.chain_id, out)
    (tmp_path / "b.tar.sha256").write_text("00" * 32 + "  b.tar\n")
    with pytest.raises(StoreError, match="does not match its checksum file"):
        restore_backup(out, tmp_path / "x" / "data", genesis_hash=_genesis_hash(data), chain_id=net.genesis.chain_id)
    out.write_bytes(b"not a tar")
    (tmp_path / "b.tar.sha256").unlink()
    with pytest.raises(StoreError, match="not a Consortia node backup|not a readable backup"):
        read_manifest(out)
