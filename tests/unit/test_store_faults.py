"""Storage faults: a damaged data directory is refused, never recreated; corruption found while
running and a full disk stop the store (one clear error, no half-written block); the chain
tells the node through the bus; a damaged head is caught at start."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import plyvel
import pytest

from node.chain import Chain
from node.errors import StoreError, StoreFailure
from node.events import NodeFailed
from node.store.chainstore import P_CERT, ChainStore, u64
from tests.conftest import set_param
from tests.unit.test_chain import seal
from tests.unit.test_store import _block, _commit


def _fill(store: ChainStore, blocks: int, value_bytes: int = 2_000) -> None:
    for h in range(blocks):
        _commit(store, h, {f"key-{h}-{i}".encode(): os.urandom(value_bytes) for i in range(20)})


def test_a_data_directory_without_current_is_refused_and_left_alone(tmp_path):
    """LevelDB in create mode would start an empty database there and delete the old tables."""
    path = tmp_path / "db"
    with ChainStore(path) as store:
        _fill(store, 30)
        store._db.compact_range()  # make table files, as a node that ran a while has
    (path / "CURRENT").unlink()
    before = sorted(os.listdir(path))
    for create in (True, False):
        with pytest.raises(StoreError, match="CURRENT file is missing") as err:
            ChainStore(path, create=create)
        assert "\n" not in str(err.value) and "move the data directory aside" in str(err.value)
    assert sorted(os.listdir(path)) == before  # nothing created, nothing deleted


def test_an_empty_or_absent_directory_is_created(tmp_path):
    (tmp_path / "empty").mkdir()
    for name in ("empty", "absent"):
        with ChainStore(tmp_path / name) as store:
            _commit(store, 0)
            assert store.head_height == 0


def _corrupt_largest_table(path: Path) -> None:
    tables = sorted(path.glob("*.ldb"), key=lambda f: f.stat().st_size)
    assert tables, os.listdir(path)
    victim = tables[-1]
    size = victim.stat().st_size
    with open(victim, "r+b") as f:
        f.seek(size // 3)
        f.write(os.urandom(4096))


def test_corruption_found_while_running_stops_the_store(tmp_path):
    path = tmp_path / "db"
    with ChainStore(path) as store:
        _fill(store, 40)
        store._db.compact_range()
    _corrupt_largest_table(path)
    told: list[str] = []
    with ChainStore(path, on_failure=told.append) as store:
        with pytest.raises(StoreFailure, match="corrupted") as err:
            for _ in store.state_items():
                pass
        assert "\n" not in str(err.value)
        assert len(told) == 1 and "corrupted" in told[0]
        # Nothing more is written to a store that failed; the error says why.
        with pytest.raises(StoreFailure, match="earlier failure"):
            _commit(store, 40)
        with pytest.raises(StoreFailure):
            store.meta_put("x", b"y")
        assert len(told) == 1  # told once


def test_a_stored_block_that_does_not_decode_is_a_store_failure(tmp_path):
    path = tmp_path / "db"
    told: list[str] = []
    with ChainStore(path, on_failure=told.append) as store:
        _commit(store, 0)
        store._db.put(b"b" + u64(0), b"\x93garbage")
        with pytest.raises(StoreFailure, match="decoding a stored block"):
            store.get_block(0)
    assert told


class _FullDisk:
    """A tmpfs of a few hundred KiB mounted over a directory, for the test's own data only."""

    def __init__(self, where: Path, size_kib: int) -> None:
        self.where = where
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or done.returncode}): needs root")

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.where)], capture_output=True)


def test_a_full_disk_stops_the_store_without_a_half_written_block(tmp_path):
    disk = _FullDisk(tmp_path / "small", 768)
    try:
        path = disk.where / "db"
        told: list[str] = []
        committed = -1
        store = ChainStore(path, on_failure=told.append)
        try:
            with pytest.raises(StoreFailure, match="writing block"):
                for h in range(10_000):
                    _commit(store, h, {f"k{h}-{i}".encode(): os.urandom(4_000) for i in range(8)})
                    committed = h
            assert len(told) == 1 and "writing block" in told[0]
            with pytest.raises(StoreFailure, match="earlier failure"):
                _commit(store, committed + 1)
        finally:
            store.close()
        # Space freed (here: the database moved to a roomy disk), a restart finds the last whole block.
        roomy = tmp_path / "db"
        shutil.copytree(path, roomy)
        with ChainStore(roomy) as again:
            assert again.head_height == committed >= 0
            head = committed
            assert again.get_block(head) == _block(head)
            assert all(again.state_get(f"k{head}-{i}".encode()) is not None for i in range(8))
            _commit(again, head + 1)
    finally:
        disk.close()


def test_the_chain_reports_a_store_failure_on_the_bus_and_stops_committing(chain, testnet):
    failed: list[NodeFailed] = []
    chain.bus.subscribe(NodeFailed, failed.append)
    seal(chain, testnet.validator)

    class BrokenBatch:
        def __enter__(self):
            raise plyvel.IOError(b"IO error: /data/000012.log: No space left on device")

        def __exit__(self, *exc):
            return False

    real = chain.store._db
    chain.store._db = _Proxy(real, write_batch=lambda **kw: BrokenBatch())
    try:
        with pytest.raises(StoreFailure, match="No space left on device"):
            seal(chain, testnet.validator)
    finally:
        chain.store._db = real
    assert [(e.component, "No space left" in e.reason) for e in failed] == [("store", True)]
    assert chain.height == 1
    with pytest.raises(StoreFailure):
        seal(chain, testnet.validator)


class _Proxy:
    def __init__(self, inner, **overrides):
        self._inner = inner
        self._overrides = overrides

    def __getattr__(self, name):
        return self._overrides.get(name) or getattr(self._inner, name)


def test_a_state_read_failure_is_never_recorded_as_a_failed_transaction(chain, testnet):
    """Failing the transaction here but not on the other nodes would fork the chain."""
    seal(chain, testnet.validator)
    chain.params()  # read before the fault: only the transaction's own reads hit it
    chain.submit(testnet.tx(testnet.user).encode())
    real = chain.store._db

    def broken_get(key, default=None, verify_checksums=False, fill_cache=True):
        if key.startswith(b"s"):
            raise plyvel.CorruptionError(b"Corruption: block checksum mismatch")
        return real.get(key, default, verify_checksums=verify_checksums, fill_cache=fill_cache)

    chain.store._db = _Proxy(real, get=broken_get)
    chain.state.clear()  # nothing from the committed-state cache: the transaction reads the store
    try:
        with pytest.raises(StoreFailure, match="corrupted"):
            seal(chain, testnet.validator)
    finally:
        chain.store._db = real


def test_a_damaged_head_certificate_is_refused_at_start(testnet, tmp_path):
    path = tmp_path / "data"
    store = ChainStore(path)
    chain = Chain(testnet.genesis, store)
    seal(chain, testnet.validator)
    raw = bytearray(store._db.get(P_CERT + u64(1)))
    raw[-3] ^= 0x01  # inside the last vote's signature
    store._db.put(P_CERT + u64(1), bytes(raw))
    store.close()
    store = ChainStore(path)
    try:
        with pytest.raises(StoreError, match="certificate of block 1 has an invalid signature") as err:
            Chain(testnet.genesis, store)
        assert "\n" not in str(err.value)
    finally:
        store.close()



def test_a_missing_head_state_root_is_refused_at_start(testnet, tmp_path):
    from node.store.chainstore import P_TREE

    path = tmp_path / "data"
    store = ChainStore(path)
    chain = Chain(testnet.genesis, store)
    chain.submit(testnet.tx(testnet.admin, **set_param("min_seal_ms", 7)).encode())
    block = seal(chain, testnet.validator)
    store._db.delete(P_TREE + block.header.state_root)
    store.close()
    store = ChainStore(path)
    try:
        with pytest.raises(StoreError, match="state tree root of block 1 is missing"):
            Chain(testnet.genesis, store)
    finally:
        store.close()
