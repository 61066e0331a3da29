"""The state tree against a reference model: roots, batches, the pending overlay and proofs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.crypto import get_suite
from node.statetree import EMPTY_ROOT, NodeLayer, ProofError, TreeError, lookup, prove, update, verify_tree_proof
from node.statetree.proof import ABSENT_EMPTY, ABSENT_OTHER_LEAF, PRESENT, Step, TreeProof


def clustered(data: bytes) -> bytes:
    """A 32-byte hash whose outputs share long prefixes: branches skip hundreds of bits."""
    d = hashlib.sha256(data).digest()
    return d[:1] + bytes(27) + d[1:5]


HASHES = {"sm": get_suite("sm").hash, "std": get_suite("std").hash, "clustered": clustered}


def reference_root(h, mapping: dict[bytes, bytes]) -> bytes:
    """The root recomputed from the whole map, straight from the definition in docs/state-proofs.md."""

    def bit_of(path: bytes, bit: int) -> int:
        return (path[bit // 8] >> (7 - bit % 8)) & 1

    def rec(items: list[tuple[bytes, bytes]]) -> bytes:
        if not items:
            return EMPTY_ROOT
        if len(items) == 1:
            return h(b"\x00" + items[0][0] + items[0][1])
        bit = next(b for b in range(256) if len({bit_of(p, b) for p, _ in items}) == 2)
        left = [it for it in items if bit_of(it[0], bit) == 0]
        right = [it for it in items if bit_of(it[0], bit) == 1]
        return h(bytes([1, bit]) + rec(left) + rec(right))

    return rec(sorted((h(k), h(v)) for k, v in mapping.items()))


def check_structure(h, store: dict[bytes, bytes], root: bytes) -> int:
    """Walk the whole tree: every node hashes to its name, branch bits increase downwards, keys sit
    on the side their bit says, and each branch stores the smallest key path below it. Returns the
    number of leaves."""

    def walk(node_hash: bytes, above: int) -> tuple[bytes, bytes, int]:  # (min path, max path, leaves)
        raw = store[node_hash]
        if raw[0] == 0:
            assert h(raw[:65]) == node_hash
            key_len = int.from_bytes(raw[65:69])
            assert h(raw[69 : 69 + key_len]) == raw[1:33] and h(raw[69 + key_len :]) == raw[33:65]
            return raw[1:33], raw[1:33], 1
        assert raw[0] == 1 and len(raw) == 98 and h(raw[:66]) == node_hash
        bit = raw[1]
        assert bit > above
        lmin, lmax, ln = walk(raw[2:34], bit)
        rmin, rmax, rn = walk(raw[34:66], bit)
        mask = 1 << (255 - bit)
        assert not int.from_bytes(lmax) & mask and int.from_bytes(rmin) & mask
        prefix = ~((1 << (256 - bit)) - 1) & ((1 << 256) - 1)  # bits above ``bit``
        assert int.from_bytes(lmin) & prefix == int.from_bytes(rmax) & prefix
        assert raw[66:98] == lmin
        return lmin, rmax, ln + rn

    return 0 if root == EMPTY_ROOT else walk(root, -1)[2]


keys = st.one_of(st.integers(0, 47).map(lambda i: b"k%d" % i), st.binary(min_size=0, max_size=4))  # mostly a small pool: updates and deletes hit existing keys
values = st.binary(min_size=0, max_size=8)
batch = st.dictionaries(keys, st.one_of(st.none(), values), max_size=24)
settings_ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(HASHES))
@settings_
@given(batches=st.lists(batch, min_size=1, max_size=6))
def test_batches_match_the_reference_and_a_one_shot_build(name, batches):
    h = HASHES[name]
    store: dict[bytes, bytes] = {}
    model: dict[bytes, bytes] = {}
    roots = []
    root = EMPTY_ROOT
    for writes in batches:
        result = update(h, store, root, writes)
        store.update(result.nodes)
        root = result.root
        for k, v in writes.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
        assert root == reference_root(h, model)
        assert check_structure(h, store, root) == len(model)
        assert root == update(h, {}, EMPTY_ROOT, model).root
        roots.append((root, dict(model)))
    for old_root, old_model in roots:  # every version stays readable: nodes are never overwritten
        for k in list(old_model) + [b"absent-key"]:
            assert lookup(h, store, old_root, k) == old_model.get(k)


@pytest.mark.parametrize("name", sorted(HASHES))
@settings_
@given(first=batch, second=batch, third=batch)
def test_pending_overlay_gives_the_root_of_committing_first(name, first, second, third):
    """A child computed over its pending parent's in-memory nodes equals the child of the committed parent."""
    h = HASHES[name]
    committed: dict[bytes, bytes] = {}
    a = update(h, committed, EMPTY_ROOT, first)
    b = update(h, NodeLayer(committed, a.nodes), a.root, second)  # over the pending parent
    c = update(h, NodeLayer(NodeLayer(committed, a.nodes), b.nodes), b.root, third)
    serial: dict[bytes, bytes] = {}
    roots = []
    root = EMPTY_ROOT
    for writes in (first, second, third):
        step = update(h, serial, root, writes)
        serial.update(step.nodes)
        root = step.root
        roots.append(root)
    assert [a.root, b.root, c.root] == roots
    assert committed == {}  # nothing was written below the pending layers


def _model_after(batches):
    model: dict[bytes, bytes] = {}
    for writes in batches:
        for k, v in writes.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
    return model


def _tree(h, batches):
    store: dict[bytes, bytes] = {}
    root = EMPTY_ROOT
    for writes in batches:
        result = update(h, store, root, writes)
        store.update(result.nodes)
        root = result.root
    return store, root


@pytest.mark.parametrize("name", sorted(HASHES))
@settings_
@given(batches=st.lists(batch, min_size=1, max_size=4), probes=st.lists(keys, max_size=8))
def test_proofs_verify_for_every_present_and_absent_key(name, batches, probes):
    h = HASHES[name]
    store, root = _tree(h, batches)
    model = _model_after(batches)
    for k in list(model) + probes:
        value, proof = prove(h, store, root, k)
        assert value == model.get(k)
        expected_kind = PRESENT if k in model else (ABSENT_EMPTY if not model else ABSENT_OTHER_LEAF)
        assert proof.kind == expected_kind
        raw = proof.encode()
        assert TreeProof.decode(raw) == proof
        verify_tree_proof(h, root, k, value, raw)
        if value is not None:
            with pytest.raises(ProofError):
                verify_tree_proof(h, root, k, value + b"x", raw)  # another value
            with pytest.raises(ProofError):
                verify_tree_proof(h, root, k, None, raw)  # claimed absent
        else:
            with pytest.raises(ProofError):
                verify_tree_proof(h, root, k, b"", raw)  # claimed present


@pytest.mark.parametrize("name", sorted(HASHES))
@settings_
@given(batches=st.lists(batch, min_size=1, max_size=3), probe=keys, data=st.data())
def test_any_flipped_byte_in_a_proof_fails(name, batches, probe, data):
    h = HASHES[name]
    store, root = _tree(h, batches)
    model = _model_after(batches)
    key = data.draw(st.sampled_from(sorted(model))) if model and data.draw(st.booleans()) else probe
    value, proof = prove(h, store, root, key)
    raw = bytearray(proof.encode())
    where = data.draw(st.integers(0, len(raw) - 1))
    raw[where] ^= data.draw(st.integers(1, 255))
    with pytest.raises(ProofError):
        verify_tree_proof(h, root, key, value, bytes(raw))


@pytest.mark.parametrize("name", ["sm", "std"])
def test_truncated_extended_reordered_and_misdirected_proofs_are_refused(name):
    h = HASHES[name]
    model = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(40)}
    store, root = _tree(h, [model])
    key = b"key-7"
    value, proof = prove(h, store, root, key)
    raw = proof.encode()
    assert value == b"value-7" and len(proof.steps) >= 3
    verify_tree_proof(h, root, key, value, raw)
    with pytest.raises(ProofError, match="truncated|length"):
        verify_tree_proof(h, root, key, value, raw[:-1])
    with pytest.raises(ProofError, match="length"):
        verify_tree_proof(h, root, key, value, raw + b"\x00")
    with pytest.raises(ProofError, match="empty"):
        verify_tree_proof(h, root, key, value, b"")
    swapped = TreeProof(proof.kind, (proof.steps[1], proof.steps[0], *proof.steps[2:])).encode()
    with pytest.raises(ProofError, match="out of order"):
        verify_tree_proof(h, root, key, value, swapped)
    with pytest.raises(ProofError, match="state root"):
        verify_tree_proof(h, root, b"key-8", value, raw)  # another key
    with pytest.raises(ProofError, match="state root"):
        verify_tree_proof(h, h(b"another root"), key, value, raw)
    dropped = TreeProof(proof.kind, proof.steps[1:]).encode()  # a step left out
    with pytest.raises(ProofError, match="state root"):
        verify_tree_proof(h, root, key, value, dropped)
    # An absence proof may not end at the key's own leaf, nor at a leaf off the key's path.
    own = TreeProof(ABSENT_OTHER_LEAF, proof.steps, h(key), h(value)).encode()
    with pytest.raises(ProofError, match="own leaf"):
        verify_tree_proof(h, root, key, None, own)
    _, other = prove(h, store, root, b"key-8")
    off_path = TreeProof(ABSENT_OTHER_LEAF, other.steps, h(b"key-8"), h(b"value-8")).encode()
    with pytest.raises(ProofError, match="not on the key's path"):
        verify_tree_proof(h, root, key, None, off_path)
    with pytest.raises(ProofError, match="empty"):
        verify_tree_proof(h, root, key, None, TreeProof(ABSENT_EMPTY, ()).encode())
    with pytest.raises(ProofError, match="unknown kind"):
        verify_tree_proof(h, root, key, value, b"\x07" + raw[1:])


def test_empty_tree_root_and_proof():
    h = HASHES["std"]
    assert update(h, {}, EMPTY_ROOT, {}).root == EMPTY_ROOT
    assert update(h, {}, EMPTY_ROOT, {b"a": None}).root == EMPTY_ROOT
    one = update(h, {}, EMPTY_ROOT, {b"a": b"1"})
    assert update(h, one.nodes, one.root, {b"a": None}).root == EMPTY_ROOT
    value, proof = prove(h, {}, EMPTY_ROOT, b"a")
    assert value is None and proof.encode() == b"\x02\x00\x00"
    verify_tree_proof(h, EMPTY_ROOT, b"a", None, proof.encode())
    with pytest.raises(ProofError, match="not the empty root"):
        verify_tree_proof(h, one.root, b"b", None, proof.encode())


def test_a_missing_or_damaged_node_is_a_tree_error():
    h = HASHES["std"]
    result = update(h, {}, EMPTY_ROOT, {b"a": b"1", b"b": b"2"})
    with pytest.raises(TreeError, match="missing"):
        update(h, {}, result.root, {b"c": b"3"})
    damaged = {k: v[:10] for k, v in result.nodes.items()}
    with pytest.raises(TreeError, match="malformed"):
        lookup(h, damaged, result.root, b"a")
    for cut in (0, 1, 10, 97, 99):  # a damaged node is a TreeError in a batch update too, whatever its length
        bad = {k: (v + b"x")[:cut] for k, v in result.nodes.items()}
        with pytest.raises(TreeError, match="malformed"):
            update(h, bad, result.root, {b"c": b"3"})


def test_only_new_nodes_are_returned_and_unchanged_subtrees_are_shared():
    h = HASHES["std"]
    base = {f"k{i}".encode(): b"v" for i in range(200)}
    first = update(h, {}, EMPTY_ROOT, base)
    assert len(first.nodes) == 2 * len(base) - 1  # 200 leaves, 199 branches
    second = update(h, first.nodes, first.root, {b"k7": b"w"})
    depth = len(prove(h, first.nodes, first.root, b"k7")[1].steps)
    assert len(second.nodes) == depth + 1  # the new leaf and one branch per level above it
    assert set(second.nodes).isdisjoint(first.nodes)


def test_a_proof_step_names_the_sibling_not_taken():
    h = HASHES["std"]
    result = update(h, {}, EMPTY_ROOT, {b"a": b"1", b"b": b"2"})
    _, proof = prove(h, result.nodes, result.root, b"a")
    (step,) = proof.steps
    assert isinstance(step, Step) and step.sibling == h(b"\x00" + h(b"b") + h(b"2"))


def test_the_node_cache_reads_through_keeps_committed_nodes_and_stays_bounded():
    from node.statetree import CachedNodes

    reads: list[bytes] = []
    backing = {bytes([i]) * 32: bytes([i]) for i in range(10)}

    class Source:
        def get(self, node_hash: bytes, /) -> bytes | None:
            reads.append(node_hash)
            return backing.get(node_hash)

    cache = CachedNodes(Source(), capacity=4)
    first = bytes([1]) * 32
    assert cache.get(first) == b"\x01" and cache.get(first) == b"\x01" and reads == [first]  # read once
    assert cache.get(b"\xee" * 32) is None and len(cache) == 1  # a miss is not remembered
    cache.add({bytes([i]) * 32: bytes([i]) for i in range(2, 7)})
    assert len(cache) == 4
    reads.clear()
    assert cache.get(bytes([6]) * 32) == b"\x06" and reads == []  # just committed: no read
    assert cache.get(first) == b"\x01" and reads == [first]  # evicted oldest first: read again


def test_the_node_cache_keeps_the_upper_branches_until_a_commit_replaces_them():
    """Deep nodes pass through the small recency cache; branches splitting at a bit below
    ``pinned_bits`` stay however many deep nodes go by, until a commit names them replaced."""
    from node.statetree import CachedNodes
    from node.statetree.nodes import BRANCH

    def branch(bit: int, tag: int) -> bytes:
        return bytes((BRANCH, bit)) + bytes([tag]) * 96

    reads: list[bytes] = []
    backing = {bytes([i]) * 32: branch(i, i) for i in range(40)}  # node i splits at bit i

    class Source:
        def get(self, node_hash: bytes, /) -> bytes | None:
            reads.append(node_hash)
            return backing.get(node_hash)

    cache = CachedNodes(Source(), capacity=2, pinned_bits=4)
    upper = [bytes([i]) * 32 for i in range(4)]
    for node_hash in upper + [bytes([i]) * 32 for i in range(10, 40)]:  # 30 deep nodes pass the tiny cache
        cache.get(node_hash)
    reads.clear()
    assert all(cache.get(h) == backing[h] for h in upper) and reads == [] and cache.pinned == 4
    cache.add({bytes([50]) * 32: branch(1, 50)}, replaced=[upper[1]])  # a commit rewrote the bit-1 branch
    assert cache.pinned == 4  # the old one gone, the new one in
    cache.get(upper[1])
    assert reads == [upper[1]]  # read again (it is still stored; only the cache dropped it)

    bounded = CachedNodes(Source(), capacity=2, pinned_bits=1)  # room for 2 << 1 = 4 pinned branches
    for i in range(5):
        bounded.add({bytes([100 + i]) * 32: branch(0, i)})  # nodes of old roots that nothing replaces
    assert bounded.pinned == 1  # the fifth found the set full and started it again


def reachable(store: dict[bytes, bytes], root: bytes) -> set[bytes]:
    """Every node hash under ``root``."""
    out: set[bytes] = set()
    stack = [] if root == EMPTY_ROOT else [root]
    while stack:
        node_hash = stack.pop()
        out.add(node_hash)
        raw = store[node_hash]
        if raw[0] == 1:
            stack += [raw[2:34], raw[34:66]]
    return out


@pytest.mark.parametrize("name", sorted(HASHES))
@settings_
@given(batches=st.lists(batch, min_size=1, max_size=5))
def test_an_update_reports_exactly_the_parent_nodes_the_new_tree_drops(name, batches):
    """What pruning deletes: nodes under the old root and not under the new one, no more, no less
    (a value written back, or a key deleted and set again, rebuilds nodes with their old hashes)."""
    h = HASHES[name]
    store: dict[bytes, bytes] = {}
    root = EMPTY_ROOT
    for writes in batches + batches[:1]:  # the first batch again: old values come back
        result = update(h, store, root, writes)
        store.update(result.nodes)
        assert result.replaced == reachable(store, root) - reachable(store, result.root)
        root = result.root
