"""docs/state-proofs.md cannot drift from the code: its worked example is recomputed here."""

from __future__ import annotations

import re
from pathlib import Path

from node.crypto import get_suite
from node.statetree import EMPTY_ROOT, prove, update, verify_tree_proof

DOC = Path(__file__).resolve().parents[2] / "docs" / "state-proofs.md"


def documented_values() -> dict[str, bytes]:
    text = DOC.read_text()
    block = text.split("<!-- example:begin -->", 1)[1].split("<!-- example:end -->", 1)[0]
    found = re.findall(r"^(\S+(?: \S+)?)\s+= 0x([0-9a-f]+)$", block, flags=re.MULTILINE)
    assert found, "the example block has no values"
    return {name: bytes.fromhex(value) for name, value in found}


def test_the_worked_example_is_what_the_code_computes():
    h = get_suite("std").hash
    entries = {b"alice": b"1", b"bob": b"2", b"carol": b"3"}
    tree = update(h, {}, EMPTY_ROOT, entries)
    leaf = {k.decode(): h(b"\x00" + h(k) + h(v)) for k, v in entries.items()}
    expected = {f"path({k})": h(k.encode()) for k in ("alice", "bob", "carol", "dave")}
    expected.update({f"value_hash({v})": h(v.encode()) for v in ("1", "2", "3")})
    expected.update({f"leaf({k})": v for k, v in leaf.items()})
    expected["branch(1, alice|carol)"] = h(b"\x01\x01" + leaf["alice"] + leaf["carol"])
    expected["root"] = tree.root
    for name in ("bob", "dave"):
        value, proof = prove(h, tree.nodes, tree.root, name.encode())
        verify_tree_proof(h, tree.root, name.encode(), value, proof.encode())
        expected[f"proof({name})"] = proof.encode()
    assert h(b"\x01\x00" + expected["branch(1, alice|carol)"] + leaf["bob"]) == tree.root  # the shape the page describes
    documented = documented_values()
    assert documented == expected
