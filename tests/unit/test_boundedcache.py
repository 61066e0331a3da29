"""The two-generation cache: bounded, keeps what is read often, values may be None."""

from __future__ import annotations

from node.boundedcache import MISSING, GenerationalCache


def test_bounded_and_keeps_what_is_read():
    cache: GenerationalCache[int, int | None] = GenerationalCache(8)
    for i in range(4):
        cache.put(i, i * 10)
    cache.put(99, None)  # the young generation (4) is full: it becomes the old one
    assert cache.lookup(99) is None and cache.lookup(0) == 0  # 0 is read: back into the young one
    for i in range(10, 13):
        cache.put(i, i)
    cache.put(13, 13)  # the young generation turns over again: the old (1, 2, 3) is dropped
    assert cache.lookup(0) == 0
    assert [cache.lookup(i) for i in (1, 2, 3)] == [MISSING] * 3
    assert len(cache) <= 8


def test_refresh_changes_only_cached_keys_and_clear_empties():
    cache: GenerationalCache[str, bytes | None] = GenerationalCache(4)
    cache.put("a", b"1")
    cache.put("b", b"2")
    cache.put("c", b"3")  # a, b now old
    cache.refresh({"a": None, "c": b"30", "z": b"new"})
    assert cache.lookup("a") is None and cache.lookup("c") == b"30" and cache.lookup("z") is MISSING
    cache.clear()
    assert len(cache) == 0 and cache.lookup("b") is MISSING


def test_many_insertions_stay_within_capacity():
    cache: GenerationalCache[int, int] = GenerationalCache(1000)
    for i in range(100_000):
        cache.put(i, i)
        assert len(cache) <= 1000
    assert cache.lookup(99_999) == 99_999 and cache.lookup(0) is MISSING
