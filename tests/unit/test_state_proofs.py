"""State proofs end to end: the chain's tree in the store and in pending blocks, the read side,
``state_getProof`` over RPC, and a client that checks what an untrusted node tells it."""

from __future__ import annotations

import msgpack
import pytest

from node.chain import Chain
from node.chainview import ChainReader
from node.errors import ConsensusError
from node.params import param_key
from node.sdk import Account, RpcClient, RpcError
from node.sdk.governance import COMMITTEE, param_proposal
from node.sdk.verify import verify_state_proof
from node.statetree import CommittedNodes, TreeProof, lookup, update, verify_tree_proof
from node.statetree.proof import ABSENT_OTHER_LEAF, PRESENT
from node.store.chainstore import ChainStore
from node.wire.types import CommitCertificate, Vote, commit_vote_bytes
from tests.conftest import SYSCONFIG, set_param
from tests.unit.test_chain import seal
from tests.unit.test_rpc import post
from tests.unit.test_statetree import check_structure


def _set(testnet, name: str, value: int):
    return testnet.tx(testnet.admin, **set_param(name, value)).encode()


def _certify(chain: Chain, key, height: int, block_hash: bytes) -> CommitCertificate:
    vote = Vote(key.public_bytes, chain.suite.sign(key.private_bytes, commit_vote_bytes(chain.chain_id, height, 0, block_hash)))
    return CommitCertificate(chain.chain_id, height, 0, block_hash, (vote,))


def _all_state(store: ChainStore) -> dict[bytes, bytes]:
    return dict(store.state_items())


def test_every_committed_root_is_the_tree_of_the_whole_state(chain, testnet):
    """The header's root is the tree over every key the store holds, and its nodes are all stored."""
    roots = []
    for i in range(3):
        chain.submit(_set(testnet, "block_interval_ms", 500 + i))
        seal(chain, testnet.validator)
        state = _all_state(chain.store)
        root = chain.head().state_root
        assert root == update(chain.suite.hash, {}, bytes(32), state).root
        roots.append((root, state))
    stored = {}
    for root, state in roots:  # every version readable from the store: nothing was overwritten
        for key, value in state.items():
            assert lookup(chain.suite.hash, chain.tree, root, key) == value
    # The store holds exactly what a walk of the head tree needs (and older versions' nodes).
    source = CommittedNodes(chain.store.tree_node)

    class Walk(dict):
        def __missing__(self, node_hash):
            raw = source.get(node_hash)
            assert raw is not None, "a node under a committed root is missing from the store"
            stored[node_hash] = raw
            return raw

    assert check_structure(chain.suite.hash, Walk(), chain.head().state_root) == len(roots[-1][1])
    assert genesis_root_matches(chain)


def genesis_root_matches(chain: Chain) -> bool:
    header = chain.store.get_header(0)
    return header is not None and header.state_root == chain.genesis.state_tree().root


def test_pending_child_root_is_computed_over_the_pending_parent_and_nothing_is_stored_early(chain, testnet, tmp_path):
    """Pipelining: block h+1 executes on uncommitted block h; its root equals the root of the same
    blocks executed one after the other, and no tree node reaches the store before its block commits."""
    chain.submit(_set(testnet, "block_interval_ms", 600))
    head = chain.head()
    first = chain.propose(height=1, view=0, proposer=testnet.validator.public_bytes, timestamp_ms=head.timestamp_ms + 1, max_txs=10)
    chain.submit(_set(testnet, "min_seal_ms", 30))
    second = chain.propose(height=2, view=0, proposer=testnet.validator.public_bytes, timestamp_ms=head.timestamp_ms + 2, max_txs=10,
                           parent_hash=first.block_hash)
    assert len(second.block.txs) == 1
    pending_nodes = {h for p in (first, second) for h in chain._pending[p.block_hash].result.tree_nodes}
    assert pending_nodes and all(chain.store.tree_node(h) is None for h in pending_nodes)
    chain.commit(first.block, _certify(chain, testnet.validator, 1, first.block_hash))
    chain.commit(second.block, _certify(chain, testnet.validator, 2, second.block_hash))
    assert all(chain.store.tree_node(h) is not None for h in pending_nodes)
    # The same two blocks on a fresh chain, each validated on its committed parent.
    other_store = ChainStore(tmp_path / "serial")
    serial = Chain(testnet.genesis, other_store)
    for proposal in (first, second):
        serial.commit(proposal.block, _certify(serial, testnet.validator, proposal.block.height, proposal.block_hash))
    assert serial.head().state_root == chain.head().state_root == second.block.header.state_root
    other_store.close()


def test_abandoned_pending_blocks_take_their_nodes_with_them(chain, testnet):
    chain.submit(_set(testnet, "block_interval_ms", 700))
    head = chain.head()
    kwargs = dict(height=1, view=0, proposer=testnet.validator.public_bytes, max_txs=10)
    kept = chain.propose(timestamp_ms=head.timestamp_ms + 1, **kwargs)
    chain.submit(_set(testnet, "min_seal_ms", 40))  # only in the block that will be abandoned
    lost = chain.propose(timestamp_ms=head.timestamp_ms + 5, view=1, **{k: v for k, v in kwargs.items() if k != "view"})
    assert kept.block_hash != lost.block_hash and chain.pending_count == 2
    lost_nodes = chain._pending[lost.block_hash].result.tree_nodes
    kept_nodes = chain._pending[kept.block_hash].result.tree_nodes
    chain.commit(kept.block, _certify(chain, testnet.validator, 1, kept.block_hash))
    assert chain.pending_count == 0 and len(lost.block.txs) == 2
    only_lost = set(lost_nodes) - set(kept_nodes)
    assert only_lost and all(chain.store.tree_node(h) is None for h in only_lost)


def test_proofs_from_the_read_side_verify_at_every_height(chain, testnet):
    reader = ChainReader(chain.store, chain.suite, chain.genesis)
    validators = chain.validators()
    values = []
    for i in range(3):
        chain.submit(_set(testnet, "block_tx_limit", 100 + i))
        seal(chain, testnet.validator)
        values.append(msgpack.packb(100 + i))
    key = param_key("block_tx_limit")
    for height, expected in zip((1, 2, 3), values):
        response = reader.state_proof(key, height).to_json()
        assert verify_state_proof(chain.suite, response, key=key, chain_id=chain.chain_id, validators=validators,
                                  height=height) == expected
    head = reader.state_proof(key).to_json()
    assert head["height"] == 3
    absent = param_key("no_such_param")
    response = reader.state_proof(absent).to_json()
    assert response["value"] is None and TreeProof.decode(bytes.fromhex(response["proof"][2:])).kind == ABSENT_OTHER_LEAF
    assert verify_state_proof(chain.suite, response, key=absent, chain_id=chain.chain_id, validators=validators) is None
    genesis = reader.state_proof(key, 0).to_json()  # provable, but genesis has no certificate to check it against
    with pytest.raises(ConsensusError, match="no commit certificate"):
        verify_state_proof(chain.suite, genesis, key=key, chain_id=chain.chain_id, validators=validators)
    assert reader.state_proof(key, 99) is None


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


async def test_a_client_checks_a_value_from_a_node_it_does_not_trust(node):
    """Over RPC: the honest answer verifies against the validators' certificate; every lie is caught."""
    net, chain, rpc, session, url = node
    validators = [net.validator.public_bytes]
    key = param_key("block_tx_limit")
    async with RpcClient(url) as client:
        admin = await Account.connect(client, net.admin)
        assert (await admin.send(COMMITTEE, "propose", param_proposal("block_tx_limit", 4321)))["receipt"]["ok"]
        first = await client.call("state_getProof", _hex(key))
        assert verify_state_proof(net.suite, first, key=key, chain_id=chain.chain_id, validators=validators) == msgpack.packb(4321)
        assert (await admin.send(COMMITTEE, "propose", param_proposal("block_tx_limit", 4322)))["receipt"]["ok"]
        latest = await client.call("state_getProof", _hex(key))
        assert latest["height"] > first["height"]
        old = await client.call("state_getProof", _hex(key), first["height"])  # a past height, by position
        assert old == first
        status, named = await post(session, url, {"jsonrpc": "2.0", "id": 1, "method": "state_getProof",
                                                   "params": {"key": _hex(key), "height": first["height"]}})
        assert status == 200 and named["result"] == first
        absent_key = SYSCONFIG + b"nothing here"
        absent = await client.call("state_getProof", _hex(absent_key))
        assert absent["value"] is None
        assert verify_state_proof(net.suite, absent, key=absent_key, chain_id=chain.chain_id, validators=validators) is None

        proof = bytes.fromhex(latest["proof"][2:])
        flipped = bytearray(proof)
        flipped[-1] ^= 1
        lies = {
            "a stale value": ({**latest, "value": first["value"]}, "does not lead to the state root"),
            "another value": ({**latest, "value": _hex(msgpack.packb(1))}, "does not lead to the state root"),
            "absent, though present": ({**latest, "value": None}, "no value is claimed"),
            "a flipped proof byte": ({**latest, "proof": _hex(bytes(flipped))}, "state proof refused"),
            "a truncated proof": ({**latest, "proof": _hex(proof[:-5])}, "length"),
            "another key's proof": ({**latest, "proof": absent["proof"], "value": None}, "state proof refused"),
            "an older header with the new value": ({**latest, "header_raw": first["header_raw"]}, "does not hash"),
            "an older block, whole, with the new value": ({**first, "value": latest["value"]}, "does not lead to the state root"),
            "another block's certificate": ({**latest, "certificate_raw": first["certificate_raw"]}, "different block"),
            "no certificate": ({**latest, "certificate_raw": None}, "no commit certificate"),
            "the answer for another key": ({**absent}, "another key"),
            "a proof that is not hex": ({**latest, "proof": "zz"}, "not hex"),
        }
        for name, (lie, message) in lies.items():
            with pytest.raises(ConsensusError, match=message):
                verify_state_proof(net.suite, lie, key=key, chain_id=chain.chain_id, validators=validators)
            assert name
        stranger = net.suite.generate_keypair()
        with pytest.raises(ConsensusError, match="non-validator"):
            verify_state_proof(net.suite, latest, key=key, chain_id=chain.chain_id, validators=[stranger.public_bytes])
        with pytest.raises(ConsensusError, match="another chain"):
            verify_state_proof(net.suite, latest, key=key, chain_id="other-chain", validators=validators)
        with pytest.raises(ConsensusError, match="height"):
            verify_state_proof(net.suite, latest, key=key, chain_id=chain.chain_id, validators=validators, height=first["height"])

        with pytest.raises(RpcError) as too_high:
            await client.call("state_getProof", _hex(key), latest["height"] + 1000)
        assert too_high.value.code == -32006
        with pytest.raises(RpcError) as bad_key:
            await client.call("state_getProof", "nothex")
        assert bad_key.value.code == -32602


def test_every_genesis_entry_has_a_present_proof(chain):
    reader = ChainReader(chain.store, chain.suite, chain.genesis)
    root = chain.head().state_root
    for key, value in _all_state(chain.store).items():
        proof = reader.state_proof(key)
        assert proof is not None and proof.value == value and TreeProof.decode(proof.proof).kind == PRESENT
        verify_tree_proof(chain.suite.hash, root, key, value, proof.proof)


def test_tree_nodes_survive_a_restart(testnet, tmp_path):
    """The nodes are in LevelDB with their block: a reopened node proves every committed height."""
    store = ChainStore(tmp_path / "data")
    chain = Chain(testnet.genesis, store)
    for i in range(2):
        chain.submit(_set(testnet, "block_interval_ms", 800 + i))
        seal(chain, testnet.validator)
    store.close()
    store = ChainStore(tmp_path / "data")
    chain = Chain(testnet.genesis, store)
    reader = ChainReader(store, chain.suite, chain.genesis)
    key = param_key("block_interval_ms")
    for height, expected in ((1, 800), (2, 801)):
        response = reader.state_proof(key, height).to_json()
        assert verify_state_proof(chain.suite, response, key=key, chain_id=chain.chain_id, validators=chain.validators(),
                                  height=height) == msgpack.packb(expected)
    chain.submit(_set(testnet, "block_interval_ms", 900))
    seal(chain, testnet.validator)  # and keeps building on the stored tree
    assert chain.head().state_root == update(chain.suite.hash, {}, bytes(32), _all_state(store)).root
    store.close()
