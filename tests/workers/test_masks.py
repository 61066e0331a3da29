"""Pairwise masks: agreed seeds match, masks cancel, labels give unrelated streams."""

from __future__ import annotations

import numpy as np
import pytest

from workers.protocols import masks
from workers.protocols.errors import InvalidPoint


def test_seeds_agree_and_depend_on_task_and_pair():
    a, b = masks.KeyPair.generate(), masks.KeyPair.generate()
    s_ab = masks.agree(a, "a", b.public, "b", "task-1")
    assert s_ab == masks.agree(b, "b", a.public, "a", "task-1")
    assert s_ab != masks.agree(a, "a", b.public, "b", "task-2")
    with pytest.raises(InvalidPoint):
        masks.agree(a, "a", bytes(32), "b", "task-1")


def test_masks_cancel_in_the_sum():
    names = ["p1", "p2", "p3", "p4"]
    keys = {n: masks.KeyPair.generate() for n in names}
    vecs = {n: np.arange(10, dtype=np.uint64) * np.uint64(i + 1) for i, n in enumerate(names)}
    total = np.zeros(10, dtype=np.uint64)
    for n in names:
        seeds = {m: masks.agree(keys[n], n, keys[m].public, m, "t") for m in names if m != n}
        masked = masks.mask(vecs[n], n, seeds, label=7)
        assert not np.array_equal(masked, vecs[n])
        total += masked
    assert np.array_equal(total, sum(vecs.values()))


def test_labels_give_streams_that_do_not_overlap():
    seed = bytes(range(32))
    s0, s1 = masks.prg_u64(seed, 64, 0), masks.prg_u64(seed, 64, 1)
    words0 = set(s0.tolist())
    assert not words0 & set(s1.tolist())
    assert masks.prg_u64(seed, 64, 0).tolist() == s0.tolist()
