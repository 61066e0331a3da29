"""LevelDB's level and compaction figures: parsed from its own stats text, exposed in /metrics."""

from __future__ import annotations

import secrets

from prometheus_client import generate_latest

from node.events import EventBus
from node.metrics import NodeMetrics
from node.metrics.storestats import StoreStatsCollector
from node.store.chainstore import ChainStore
from node.store.dbstats import MIB, LevelStats, parse_level_stats
from tests.scrape import Scrape

STATS = """                               Compactions
Level  Files Size(MB) Time(sec) Read(MB) Write(MB)
--------------------------------------------------
  0        6        5         0        0        25
  1        5       10         1       39        40
  3      352      700        91     2100      2050
"""


def test_rows_of_the_stats_table_are_parsed_and_nothing_else():
    rows = parse_level_stats(STATS)
    assert rows == [LevelStats(0, 6, 5 * MIB, 0, 0, 25 * MIB), LevelStats(1, 5, 10 * MIB, 1, 39 * MIB, 40 * MIB),
                    LevelStats(3, 352, 700 * MIB, 91, 2100 * MIB, 2050 * MIB)]
    assert parse_level_stats("") == []
    assert parse_level_stats("Level Files\n  0  6  5  x  0  25\n  1 2 3 4 5\n  1 2 3 4 5 6 7\n") == []


def test_a_store_reports_its_levels_once_tables_are_written(tmp_path):
    store = ChainStore(tmp_path / "db")
    assert all(row.files == 0 for row in store.level_stats())  # a new store: nothing flushed yet
    for _ in range(40):  # well past the 16 MiB write buffer: LevelDB flushes tables to level 0 and compacts
        with store._db.write_batch() as wb:
            for _ in range(1000):
                wb.put(b"T" + secrets.token_bytes(32), secrets.token_bytes(1024))
    rows = store.level_stats()
    assert sum(row.files for row in rows) > 0
    assert sum(row.compaction_written_bytes for row in rows) >= 16 * MIB
    store.close()
    assert store.level_stats() == []  # closed: no figures, no error


def test_the_collector_exposes_every_level_with_its_label(tmp_path):
    levels = [LevelStats(0, 3, 5 * MIB, 2, 0, 25 * MIB), LevelStats(2, 40, 80 * MIB, 7, 90 * MIB, 88 * MIB)]
    metrics = NodeMetrics(EventBus(), process=False)
    metrics.add_collector(StoreStatsCollector(lambda: levels))
    got = Scrape.parse(generate_latest(metrics.registry).decode())
    assert got.value("consortia_store_level_files", level="0") == 3
    assert got.value("consortia_store_level_bytes", level="2") == 80 * MIB
    assert got.value("consortia_store_compaction_seconds_total", level="2") == 7
    assert got.value("consortia_store_compaction_read_bytes_total", level="2") == 90 * MIB
    assert got.value("consortia_store_compaction_written_bytes_total", level="0") == 25 * MIB
    assert got.types["consortia_store_compaction_seconds"] == "counter"
    assert got.types["consortia_store_level_files"] == "gauge"
