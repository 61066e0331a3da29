"""Governance through the chain: votes in blocks, parameter changes on every node from the same
height, deploy rights, frozen accounts at the pool and at execution, and the RPC/SDK surface."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from node.chain import Chain
from node.errors import AccountFrozen
from node.sdk import Account, RpcClient, RpcError
from node.sdk.governance import Governance, GovernanceError, proposal_args
from node.store.chainstore import ChainStore
from node.wire import codec
from node.wire.types import Block, CommitCertificate, Vote, commit_vote_bytes
from tests import conftest
from tests.conftest import COMMITTEE, make_testnet
from tests.unit.test_chain import seal

EVIDENCE = Path(__file__).resolve().parents[2] / "contracts_wasm" / "dist" / "evidence.wasm"


def three_members(suite: str = "std", **params: int) -> tuple[conftest.TestNet, object]:
    """A test net whose committee is admin, user and a third key (equal weights, 51% / 51%)."""
    net = make_testnet(suite, params=params or None)
    third = net.suite.generate_keypair()
    members = {net.suite.address(k.public_bytes): 1 for k in (net.admin, net.user, third)}
    net.genesis = dataclasses.replace(net.genesis, committee=members)
    return net, third


def propose(net: conftest.TestNet, key, type_: str, payload: dict, **kw) -> bytes:
    return net.tx(key, to=COMMITTEE, method="propose", args=proposal_args(type_, payload, **kw), fuel_limit=5_000_000).encode()


def vote(net: conftest.TestNet, key, pid: int, yes: bool = True) -> bytes:
    return net.tx(key, to=COMMITTEE, method="vote", args={"id": pid, "yes": yes}, fuel_limit=5_000_000).encode()


def receipt(chain: Chain, tx_hash: bytes):
    return chain.store.get_receipt_at(*chain.store.get_tx_location(tx_hash))


def _certify(chain: Chain, key, block: Block) -> CommitCertificate:
    block_hash = chain.suite.hash(block.header.encode())
    signed = chain.suite.sign(key.private_bytes, commit_vote_bytes(chain.chain_id, block.height, 0, block_hash))
    return CommitCertificate(chain.chain_id, block.height, 0, block_hash, (Vote(key.public_bytes, signed),))


def test_a_parameter_voted_in_block_h_governs_block_h_plus_1_on_every_node(tmp_path):
    net, _ = three_members(block_tx_limit=50)
    a = Chain(net.genesis, ChainStore(tmp_path / "a"))
    b = Chain(net.genesis, ChainStore(tmp_path / "b"))
    try:
        def step() -> Block:
            """a proposes; b validates the same block; both commit it."""
            head = a.head()
            proposal = a.propose(height=head.height + 1, view=0, proposer=net.validator.public_bytes,
                                 timestamp_ms=head.timestamp_ms + 1, max_txs=a.params().block_tx_limit)
            assert b.validate(proposal.block) == proposal.block_hash
            cert = _certify(a, net.validator, proposal.block)
            a.commit(proposal.block, cert)
            b.commit(proposal.block, cert)
            return proposal.block

        a.submit(propose(net, net.admin, "set_param", {"key": "block_tx_limit", "value": 2}))
        step()  # block 1: proposed, 1 of 3: open
        assert a.params().block_tx_limit == b.params().block_tx_limit == 50
        passing = a.submit(vote(net, net.user, 1))
        for _ in range(5):
            a.submit(net.tx(net.admin, method="list").encode())
        block2 = step()  # the vote passes the proposal: it executes in this block
        executed = receipt(a, passing)
        assert executed.ok and [e.name for e in executed.events] == ["Voted", "Passed", "ParamChanged", "Executed"]
        assert len(block2.txs) == 6  # still under the old limit
        assert a.params().block_tx_limit == b.params().block_tx_limit == 2
        for _ in range(5):
            a.submit(net.tx(net.admin, method="list").encode())
        block3 = step()  # from block 3 on, at most 2 per block, on both nodes
        assert len(block3.txs) == 2
        assert a.head().state_root == b.head().state_root
    finally:
        a.store.close()
        b.store.close()


def test_a_vote_after_expiry_is_refused_and_the_proposal_reads_expired(tmp_path):
    net, third = three_members()
    chain = Chain(net.genesis, ChainStore(tmp_path / "d"))
    try:
        chain.submit(propose(net, net.admin, "grant_deploy", {"address": "0x" + "77" * 20}, expiry_blocks=2))
        seal(chain, net.validator)  # block 1: proposal 1 expires at height 3
        seal(chain, net.validator)  # block 2
        late = vote(net, net.user, 1)
        h = chain.submit(late)
        seal(chain, net.validator)  # block 3: at the expiry height
        r = receipt(chain, h)
        assert not r.ok and "proposal 1 expired at height 3" in r.error
        view = codec.decode(chain.query(COMMITTEE, "proposal", codec.encode({"id": 1})))
        assert view["status"] == "expired"
    finally:
        chain.store.close()


def test_deploy_needs_rights_which_a_proposal_grants(tmp_path):
    net = make_testnet("std")
    chain = Chain(net.genesis, ChainStore(tmp_path / "d"), wasm_cache_dir=tmp_path / "wc")
    user = net.suite.address(net.user.public_bytes)
    try:
        code = EVIDENCE.read_bytes()
        refused = chain.submit(net.tx(net.user, to=b"", method="deploy", args={"code": code}, fuel_limit=50_000_000).encode())
        seal(chain, net.validator)
        r = receipt(chain, refused)
        assert not r.ok and f"0x{user.hex()} has no deploy rights" in r.error
        granted = chain.submit(propose(net, net.admin, "grant_deploy", {"address": user}))  # one member: passes at once
        seal(chain, net.validator)
        assert receipt(chain, granted).ok
        again = chain.submit(net.tx(net.user, to=b"", method="deploy", args={"code": code}, fuel_limit=50_000_000).encode())
        seal(chain, net.validator)
        assert receipt(chain, again).ok
    finally:
        chain.store.close()


def test_a_frozen_account_is_refused_at_the_pool_and_fails_at_execution(tmp_path):
    net = make_testnet("std")
    chain = Chain(net.genesis, ChainStore(tmp_path / "d"))
    user = net.suite.address(net.user.public_bytes)
    try:
        freeze = chain.submit(propose(net, net.admin, "freeze", {"address": user}))
        already_pooled = chain.submit(net.tx(net.user, method="list").encode())  # admitted: not frozen yet
        block = seal(chain, net.validator)
        assert len(block.txs) == 2 and receipt(chain, freeze).ok
        r = receipt(chain, already_pooled)
        assert not r.ok and r.error == f"account 0x{user.hex()} is frozen by the governance committee"
        with pytest.raises(AccountFrozen, match="is frozen") as refused:
            chain.submit(net.tx(net.user, method="list").encode())
        assert refused.value.code == -32015
        chain.submit(propose(net, net.admin, "unfreeze", {"address": user}))
        seal(chain, net.validator)
        chain.submit(net.tx(net.user, method="list").encode())  # admitted again
    finally:
        chain.store.close()


# --- the RPC methods and the SDK over an in-process node -----------------------------------


async def test_sdk_and_rpc_propose_vote_list_show(tmp_path):
    import aiohttp

    from node.consensus_engine import build_engine
    from node.metrics import NodeMetrics
    from node.rpc.env import NodeIdentity, RpcEnv
    from node.rpc.server import RpcServer

    net, third = three_members(block_interval_ms=50, min_seal_ms=5)
    store = ChainStore(tmp_path / "data")
    chain = Chain(net.genesis, store)
    engine = build_engine(chain, net.validator, send=lambda data: None, request_sync=lambda h, p: None,
                          offer_blocks=lambda p, h: None)
    env = RpcEnv.for_chain(chain, NodeIdentity("validator-0", "validator", net.validator.public_bytes), NodeMetrics(chain.bus),
                           engine=engine)
    rpc = RpcServer(env, host="127.0.0.1", port=0, max_body_bytes=64 * 1024, max_batch=10, max_ws_subscriptions=2)
    await rpc.start()
    await engine.start()
    try:
        async with aiohttp.ClientSession(), RpcClient(f"http://127.0.0.1:{rpc.port}") as client:
            admin = Governance(client, await Account.connect(client, net.admin))
            user = Governance(client, await Account.connect(client, net.user))
            stranger = Governance(client, await Account.connect(client, net.suite.generate_keypair()))
            target = "0x" + "42" * 20

            members = await admin.members()
            assert members["total_weight"] == 3 and members["participation_rate"] == 51 and members["win_rate"] == 51
            assert len(members["members"]) == 3 and all(m["weight"] == 1 for m in members["members"])

            first = await admin.propose("grant_role", {"address": target, "role": "credential_issuer"}, reason="KYC partner")
            assert first.status == "open"
            shown = await admin.show(first.id)
            assert shown["reason"] == "KYC partner" and shown["tally"] == {"yes": 1, "no": 0, "total": 3}
            assert shown["votes"] == [{"voter": "0x" + admin.account.address.hex(), "yes": True}]
            with pytest.raises(GovernanceError, match="only committee members may vote"):
                await stranger.vote(first.id, True)
            done = await user.vote(first.id, True)
            assert done.status == "executed"
            assert (await admin.wait_for_execution(first.id))["closed_height"] == done.receipt["height"]
            roles = await admin.roles(target)
            assert roles == {"address": target, "roles": ["credential_issuer"], "can_deploy": False, "frozen": False,
                             "committee_weight": 0}

            second = await admin.propose("set_param", {"key": "min_seal_ms", "value": 6})
            await user.vote(second.id, False)
            rejected = await Governance(client, await Account.connect(client, third)).vote(second.id, False)
            assert rejected.status == "rejected"
            with pytest.raises(GovernanceError, match="is rejected"):
                await admin.wait_for_execution(second.id, timeout=1)

            listed = await admin.list()
            assert [p["id"] for p in listed["proposals"]] == [second.id, first.id] and listed["next_before"] is None
            assert [p["id"] for p in (await admin.list(status="rejected"))["proposals"]] == [second.id]
            assert [p["id"] for p in (await admin.list(type_="grant_role"))["proposals"]] == [first.id]
            assert (await admin.list(from_height=10_000))["proposals"] == []

            nodes = await admin.nodes()
            assert nodes == [{"id": "0x" + net.validator.public_bytes.hex(), "name": "validator-0", "role": "validator",
                              "organisation": "validator-0", "since": 0, "host": "127.0.0.1", "p2p_port": 1}]
            newcomer = "0x" + net.suite.generate_keypair().public_bytes.hex()
            admitted = await admin.propose("admit_observer", {"pubkey": newcomer, "name": "bank-e", "host": "10.0.0.5",
                                                              "p2p_port": 26601, "organisation": "Bank E"})
            executed = await user.vote(admitted.id, True)
            entry = next(n for n in await admin.nodes() if n["id"] == newcomer)
            assert entry == {"id": newcomer, "name": "bank-e", "role": "observer", "organisation": "Bank E",
                             "since": executed.receipt["height"] + 1, "host": "10.0.0.5", "p2p_port": 26601}
            with pytest.raises(GovernanceError, match="already in the node list"):
                await admin.propose("admit_observer", {"pubkey": newcomer, "name": "x", "host": "h", "p2p_port": 1})

            for method, params, code in [("gov_getProposal", [99], -32006), ("gov_getProposal", ["1"], -32602),
                                         ("gov_listProposals", {"status": "sleeping"}, -32602),
                                         ("gov_listProposals", {"limit": 101}, -32602),
                                         ("gov_listProposals", {"type": "king"}, -32602),
                                         ("gov_listProposals", {"type": []}, -32602),
                                         ("gov_listProposals", {"status": {"a": 1}}, -32602),
                                         ("acl_roles", ["0x12"], -32602)]:
                with pytest.raises(RpcError) as err:
                    await (client.call_named(method, params) if isinstance(params, dict) else client.call(method, *params))
                assert err.value.code == code, (method, params)
    finally:
        await engine.stop()
        await rpc.stop()
        store.close()


# --- genesis, SDK argument building and CLI argument errors ---------------------------------


def _genesis_json(**fields):
    from node.genesis import Genesis

    raw = make_testnet("std").genesis.to_json()
    raw.update(fields)
    return Genesis.from_json(raw)


def test_genesis_committee_and_deployers_round_trip_and_seed_state():
    a, b = "0x" + "0a" * 20, "0x" + "0b" * 20
    genesis = _genesis_json(committee={"members": [{"address": a, "weight": 2}, {"address": b, "weight": 1}],
                                       "participation_rate": 60, "win_rate": 70}, deployers=[b])
    assert genesis.committee == {bytes.fromhex(a[2:]): 2, bytes.fromhex(b[2:]): 1}
    assert genesis.deploy_accounts == (bytes.fromhex(b[2:]),)
    from node.genesis import Genesis

    assert Genesis.from_json(genesis.to_json()) == genesis
    from node.execution.system.acl import can_deploy
    from node.execution.system.committee import Rates, read_members, read_rates

    state = {k: v for k, v in genesis.initial_writes().items() if v is not None}

    class Reader:
        def get(self, key):
            return state.get(key)

    assert read_members(Reader()) == genesis.committee and read_rates(Reader()) == Rates(60, 70)
    assert can_deploy(Reader(), bytes.fromhex(b[2:])) and not can_deploy(Reader(), genesis.admins[0])


@pytest.mark.parametrize(("fields", "message"), [
    ({"committee": {"members": []}}, "non-empty list"),
    ({"committee": {"members": [{"address": "0x" + "01" * 20, "weight": 0}]}}, "weight must be an integer 1..1000000"),
    ({"committee": {"members": [{"address": "0x" + "01" * 20, "weight": 1}] * 2}}, "listed once"),
    ({"committee": {"members": [{"address": "0x01", "weight": 1}]}}, "20 bytes"),
    ({"committee": {"members": [{"address": "0x" + "01" * 20, "weight": 1}], "win_rate": 0}}, "zero win rate"),
    ({"committee": {"members": [{"address": "0x" + "01" * 20, "weight": 1}], "participation_rate": 101}}, "above|outside"),
    ({"committee": {"members": [{"address": "0x" + "01" * 20, "weight": 1}], "quorum": 3}}, "committee must be an object"),
    ({"deployers": "0x" + "01" * 20}, "deployers must be a list"),
    ({"admins": []}, "at least one committee member"),
])
def test_genesis_refuses_a_bad_committee(fields, message):
    from node.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        _genesis_json(**fields)


def test_sdk_turns_hex_into_bytes_only_where_the_type_wants_bytes():
    from node.errors import InvalidParams

    args = proposal_args("grant_role", {"address": "0x" + "ab" * 20, "role": "regulator"}, reason="r", expiry_blocks=5)
    assert args == {"type": "grant_role", "payload": {"address": b"\xab" * 20, "role": "regulator"}, "reason": "r",
                    "expiry_blocks": 5}
    assert proposal_args("set_param", {"key": "0x10", "value": 1})["payload"]["key"] == "0x10"  # a str field stays text
    with pytest.raises(InvalidParams, match="0x-prefixed hex"):
        proposal_args("freeze", {"address": "ab" * 20})
    with pytest.raises(InvalidParams, match="unknown proposal type"):
        proposal_args("crown", {})


@pytest.mark.parametrize(("argv", "message"), [
    (["gov", "propose", "--rpc", "http://127.0.0.1:1", "--key", "K", "--type", "freeze", "--args", "{nope"], "not valid JSON"),
    (["gov", "propose", "--rpc", "http://127.0.0.1:1", "--key", "K", "--type", "freeze", "--args", "[1]"], "JSON object"),
    (["gov", "list", "--rpc", "http://127.0.0.1:1", "--open", "--status", "executed"], "disagree"),
    (["gov", "roles", "--rpc", "http://127.0.0.1:1", "0x12"], "20 bytes"),
])
def test_gov_cli_argument_errors_are_one_line(argv, message, tmp_path, capsys):
    from node.cli.main import main
    from node.config import save_key

    key = tmp_path / "k.key"
    save_key(key, make_testnet("std").admin)
    argv = [str(key) if a == "K" else a for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and len(err.strip().splitlines()) == 1
