"""The LevelDB store: atomic block commits and clear errors when the database is unusable."""

import os

import pytest

from node.errors import StoreError
from node.store.chainstore import BlockCommit, ChainStore, NonceRecord
from node.wire.types import Block, BlockHeader


def _block(height: int) -> Block:
    header = BlockHeader(
        chain_id="t", height=height, parent_hash=bytes(32), timestamp_ms=height, proposer=b"", view=0,
        tx_count=0, tx_root=bytes(32), receipt_root=bytes(32), state_root=bytes(32),
    )
    return Block(header=header, txs=())


def _commit(store: ChainStore, height: int, writes=None, nonces=(), tree_nodes=None):
    store.commit(BlockCommit(block=_block(height), block_hash=bytes([height]) * 32, certificate=None, receipts=(),
                             tx_hashes=(), state_writes=writes or {}, nonces=tuple(nonces), tree_nodes=tree_nodes or {}))


def test_commit_and_read_back(tmp_path):
    with ChainStore(tmp_path / "db") as store:
        assert store.head_height is None
        _commit(store, 0, {b"k": b"v"})
        _commit(store, 1, {b"k": None, b"j": b"w"})
        assert store.head_height == 1
        assert store.get_block(1) == _block(1)
        assert store.get_height_by_hash(bytes([1]) * 32) == 1
        assert store.state_get(b"k") is None and store.state_get(b"j") == b"w"
    with ChainStore(tmp_path / "db") as again:
        assert again.head_height == 1


def test_heights_must_be_consecutive(tmp_path):
    with ChainStore(tmp_path / "db") as store:
        _commit(store, 0)
        with pytest.raises(StoreError, match="next height is 1"):
            _commit(store, 2)


def test_nonces_are_pruned_after_expiry(tmp_path):
    with ChainStore(tmp_path / "db") as store:
        _commit(store, 0, nonces=[NonceRecord(b"a" * 20, b"n" * 16, 2)])
        assert store.nonce_expiry(b"a" * 20, b"n" * 16) == 2
        _commit(store, 1)
        assert store.nonce_expiry(b"a" * 20, b"n" * 16) == 2
        _commit(store, 2)
        assert store.nonce_expiry(b"a" * 20, b"n" * 16) is None


def test_missing_database_is_one_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no database"):
        ChainStore(tmp_path / "absent", create=False)


def test_locked_database_is_one_clear_error(tmp_path):
    with ChainStore(tmp_path / "db"):
        with pytest.raises(StoreError, match="locked by another process"):
            ChainStore(tmp_path / "db")


def test_corrupted_database_is_one_clear_error(tmp_path):
    with ChainStore(tmp_path / "db") as store:
        _commit(store, 0, {b"k" * 10: b"v" * 1000})
    for name in os.listdir(tmp_path / "db"):
        if name.startswith("MANIFEST"):
            (tmp_path / "db" / name).write_bytes(b"garbage" * 10)
    with pytest.raises(StoreError) as err:
        ChainStore(tmp_path / "db")
    assert "\n" not in str(err.value)
