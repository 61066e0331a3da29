"""The pool journal: a transaction this node acknowledged survives the node's process dying."""

from __future__ import annotations

from pathlib import Path

import pytest

import node.pooljournal as pooljournal
from node.chain import Chain
from node.pooljournal import PoolJournal, read_journal
from node.store.chainstore import ChainStore
from tests.conftest import make_testnet
from tests.unit.test_chain import seal


def test_records_are_read_back_and_a_torn_tail_is_cut(tmp_path: Path):
    path = tmp_path / "j"
    journal = PoolJournal(path)
    assert journal.open().records == []
    for raw in (b"one", b"", b"three" * 100):
        journal.append(raw)
    journal.close()
    with path.open("ab") as f:  # the process died inside a write: a length and half its bytes
        f.write((50).to_bytes(4, "big") + b"x" * 20)
    contents = read_journal(path)
    assert contents.records == [b"one", b"", b"three" * 100]
    assert contents.torn_bytes == 24
    again = PoolJournal(path)
    assert again.open().records == contents.records
    again.append(b"four")  # appended after the whole records, not after the torn bytes
    again.close()
    assert read_journal(path) == pooljournal.JournalContents([b"one", b"", b"three" * 100, b"four"], 0)


def test_an_impossible_length_ends_the_journal(tmp_path: Path):
    path = tmp_path / "j"
    path.write_bytes((3).to_bytes(4, "big") + b"abc" + (2**31).to_bytes(4, "big") + b"rest")
    assert read_journal(path).records == [b"abc"]


def test_rewrite_keeps_only_the_live_records(tmp_path: Path):
    path = tmp_path / "j"
    journal = PoolJournal(path)
    journal.open()
    for i in range(10):
        journal.append(bytes([i]))
    journal.rewrite([b"\x07", b"\x09"])
    journal.append(b"\x0a")
    journal.close()
    assert read_journal(path).records == [b"\x07", b"\x09", b"\x0a"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not path.with_name("j.tmp").exists()


@pytest.mark.parametrize("suite", ["std", "sm"])
def test_a_restarted_node_admits_its_acknowledged_transactions_again(tmp_path: Path, suite: str):
    """The first node is "killed" (never closed); the second opens its journal and finds the
    acknowledged transactions in its pool, marked as its own (so it forwards them); one that
    committed meanwhile and one that expired are refused by the ordinary rules."""
    net = make_testnet(suite)
    first = Chain(net.genesis, ChainStore(tmp_path / "a"))
    first.attach_journal(PoolJournal(tmp_path / "txpool.journal"))
    sent = [net.tx(net.admin, nonce=bytes([i]) * 16) for i in range(4)]
    short_lived = net.tx(net.admin, nonce=b"\xee" * 16, expiry_height=2)
    hashes = [first.submit(tx.encode()) for tx in sent]
    first.submit(short_lived.encode())
    forwarded = net.tx(net.user, nonce=b"\xff" * 16)
    first.submit(forwarded.encode(), forward=False)  # a peer's: not journaled (its origin keeps it)
    assert read_journal(tmp_path / "txpool.journal").records == [tx.encode() for tx in (*sent, short_lived)]

    second = Chain(net.genesis, ChainStore(tmp_path / "b"))
    second.submit(sent[0].encode(), forward=False)  # already reached this node from a peer
    seal(second, net.validator)  # commits sent[0]: a record of a committed transaction is refused
    seal(second, net.validator)  # height 2: short_lived (valid below height 2) expired
    second.attach_journal(PoolJournal(tmp_path / "txpool.journal"))
    assert set(second.local_pending()) == {tx.encode() for tx in sent[1:]}
    assert all(h in second.pool for h in hashes[1:]) and forwarded.encode() not in second.local_pending()
    # The journal was rewritten with what is pending; what commits leaves it at the next compaction.
    assert read_journal(tmp_path / "txpool.journal").records == second.local_pending()
    seal(second, net.validator)
    assert second.local_pending() == []


def test_the_journal_is_compacted_as_blocks_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(pooljournal, "COMPACT_MIN_RECORDS", 3)
    net = make_testnet("std")
    chain = Chain(net.genesis, ChainStore(tmp_path / "a"))
    chain.attach_journal(PoolJournal(tmp_path / "txpool.journal"))
    for i in range(5):
        chain.submit(net.tx(net.admin, nonce=bytes([i]) * 16).encode())
    assert chain.journal is not None and chain.journal.records == 5
    seal(chain, net.validator)
    assert chain.journal.records == 0 and read_journal(tmp_path / "txpool.journal").records == []
    late = net.tx(net.admin, nonce=b"\x09" * 16)
    chain.submit(late.encode())
    assert read_journal(tmp_path / "txpool.journal").records == [late.encode()]


def test_a_write_that_fails_is_logged_once_and_the_transaction_stays_admitted(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    net = make_testnet("std")
    chain = Chain(net.genesis, ChainStore(tmp_path / "a"))
    journal = PoolJournal(tmp_path / "txpool.journal")
    chain.attach_journal(journal)
    assert journal._fd is not None
    import os
    os.close(journal._fd)
    journal._fd = os.open("/dev/full", os.O_WRONLY)  # every write fails with ENOSPC
    for i in range(3):
        h = chain.submit(net.tx(net.admin, nonce=bytes([i]) * 16).encode())
        assert h in chain.pool
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "event=pool_journal_failed" in caplog.text
