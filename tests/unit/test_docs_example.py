"""The client-facing docs agree with the code: the worked example at the end of
docs/transaction-format.md (keys, signing bytes, hash, signatures, address, key files), the
odd-sized Merkle example, and the chain parameter table in docs/json-rpc.md.

The values in the markdown were produced by the node's own code; this test parses them back
out and recomputes them, so the example can never drift from what the node does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from node.config import load_key, save_key
from node.crypto import get_suite
from node.merkle import leaf_hash, merkle_proof, merkle_root, node_hash
from node.params import PARAMS
from node.txcheck import check_transaction
from node.wire import codec
from node.wire.types import Transaction

DOCS = Path(__file__).resolve().parents[2] / "docs"
TX_FORMAT = (DOCS / "transaction-format.md").read_text()

# The example transaction (section 9): the same fields for both suites, only the key differs.
EXAMPLE_PRIVATE = bytes(range(1, 33))
EXAMPLE_FIELDS = {
    "chain_id": "consortia-example",
    "nonce": bytes(range(16)),
    "expiry_height": 120,
    "to": bytes(18) + b"\x10\x00",
    "method": "set",
    "args": codec.encode({"key": "min_seal_ms", "value": 25}),
    "fuel_limit": 1_000_000,
}


def example_block(suite: str) -> dict[str, str]:
    """The ``name: value`` lines of the fenced block under '### Worked example: <suite>'."""
    section = TX_FORMAT.split(f"### Worked example: `{suite}`", 1)[1]
    block = section.split("```", 2)[1]
    values = dict(re.findall(r"^(\w+):\s+(\S+)$", block, flags=re.MULTILINE))
    assert values, f"no values under the {suite} example"
    return values


def unhex(value: str) -> bytes:
    assert value.startswith("0x") and value == value.lower(), value
    return bytes.fromhex(value[2:])


def example_tx(suite_name: str) -> Transaction:
    suite = get_suite(suite_name)
    key = suite.keypair_from_private(EXAMPLE_PRIVATE)
    return Transaction(sender_pubkey=key.public_bytes, **EXAMPLE_FIELDS)


def test_the_documented_transaction_fields_are_the_example_fields():
    listed = json.loads(TX_FORMAT.split("<!-- example-fields -->", 1)[1].split("```json", 1)[1].split("```", 1)[0])
    assert listed["chain_id"] == EXAMPLE_FIELDS["chain_id"]
    assert unhex(listed["nonce"]) == EXAMPLE_FIELDS["nonce"]
    assert listed["expiry_height"] == EXAMPLE_FIELDS["expiry_height"]
    assert unhex(listed["to"]) == EXAMPLE_FIELDS["to"]
    assert listed["method"] == EXAMPLE_FIELDS["method"] and listed["fuel_limit"] == EXAMPLE_FIELDS["fuel_limit"]
    assert unhex(listed["args"]) == EXAMPLE_FIELDS["args"]
    assert codec.decode(unhex(listed["args"])) == listed["args_decoded"]


@pytest.mark.parametrize("suite_name", ["std", "sm"])
def test_the_worked_example_is_what_the_node_computes(suite_name: str):
    doc = example_block(suite_name)
    suite = get_suite(suite_name)
    key = suite.keypair_from_private(unhex(doc["private_key"]))
    assert unhex(doc["private_key"]) == EXAMPLE_PRIVATE
    assert unhex(doc["public_key"]) == key.public_bytes
    assert unhex(doc["address"]) == suite.address(key.public_bytes)
    tx = example_tx(suite_name)
    signing = tx.signing_bytes()
    assert unhex(doc["signing_bytes"]) == signing
    assert unhex(doc["tx_hash"]) == suite.hash(signing)
    signature = unhex(doc["signature"])
    assert suite.verify(key.public_bytes, signing, signature)
    if suite_name == "std":  # Ed25519 is deterministic; SM2 is not, so it is only verified
        assert signature == suite.sign(key.private_bytes, signing)
    signed = Transaction(**{**tx.to_map(), "signature": signature})
    assert unhex(doc["raw"]) == signed.encode()
    checked = check_transaction(suite, EXAMPLE_FIELDS["chain_id"], Transaction.decode(unhex(doc["raw"])), size=len(signed.encode()))
    assert checked.hash == unhex(doc["tx_hash"]) and checked.sender == unhex(doc["address"])


@pytest.mark.parametrize("suite_name", ["std", "sm"])
def test_the_documented_key_file_loads_as_the_example_key(suite_name: str, tmp_path: Path):
    doc = example_block(suite_name)
    section = TX_FORMAT.split(f"### Worked example: `{suite_name}`", 1)[1]
    key_file = json.loads(section.split("```json", 1)[1].split("```", 1)[0])
    path = tmp_path / "node.key"
    path.write_text(json.dumps(key_file))
    path.chmod(0o600)  # the node refuses key files other users can read
    key = load_key(path)
    assert key.suite == suite_name and "0x" + key.public_bytes.hex() == doc["public_key"]
    save_key(tmp_path / "again.key", key)
    assert json.loads((tmp_path / "again.key").read_text()) == key_file  # the node writes exactly this shape
    wrong = {**key_file, "public_key": "0x" + "00" * len(key.public_bytes)}
    path.write_text(json.dumps(wrong))
    with pytest.raises(Exception, match="public_key"):
        load_key(path)


def test_the_odd_merkle_example():
    """Five leaves: the proofs the docs walk through, one step for the promoted last leaf."""
    h = get_suite("std").hash
    items = [bytes([i]) * 32 for i in range(5)]
    leaves = [leaf_hash(h, x) for x in items]
    n01, n23 = node_hash(h, leaves[0], leaves[1]), node_hash(h, leaves[2], leaves[3])
    n0123 = node_hash(h, n01, n23)
    assert merkle_root(h, items) == node_hash(h, n0123, leaves[4])
    assert [(s.sibling, s.left) for s in merkle_proof(h, items, 4)] == [(n0123, True)]
    assert [(s.sibling, s.left) for s in merkle_proof(h, items, 2)] == [(leaves[3], False), (n01, True), (leaves[4], False)]
    assert "[{sibling: N0123, position: left}]" in TX_FORMAT.replace("\n", " ").replace("  ", " ")


def test_the_parameter_table_is_node_params():
    text = (DOCS / "json-rpc.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| (\d+) \| (\d+) \| (\d+) \| .+ \|$", text, flags=re.MULTILINE)
    assert {name: (int(d), int(lo), int(hi)) for name, d, lo, hi in rows} == {
        name: (spec.default, spec.minimum, spec.maximum) for name, spec in PARAMS.items()
    }


def generate() -> str:
    """The example blocks, printed by ``python -m tests.unit.test_docs_example`` to paste into the docs."""
    out = []
    for suite_name in ("std", "sm"):
        suite = get_suite(suite_name)
        key = suite.keypair_from_private(EXAMPLE_PRIVATE)
        tx = example_tx(suite_name)
        signing = tx.signing_bytes()
        signature = suite.sign(key.private_bytes, signing)
        signed = Transaction(**{**tx.to_map(), "signature": signature})
        out.append(f"--- {suite_name}\nprivate_key:   0x{key.private_bytes.hex()}\npublic_key:    0x{key.public_bytes.hex()}\n"
                   f"address:       0x{suite.address(key.public_bytes).hex()}\nsigning_bytes: 0x{signing.hex()}\n"
                   f"tx_hash:       0x{suite.hash(signing).hex()}\nsignature:     0x{signature.hex()}\nraw:           0x{signed.encode().hex()}")
    return "\n".join(out)


if __name__ == "__main__":
    print(generate())
