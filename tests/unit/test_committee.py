"""The governance committee contract: voting arithmetic, expiry, refusals and every proposal type's effect.

The contract runs directly on an in-memory state made by a real genesis, one call at a time; a
call that reverts leaves the state untouched, as the executor does with a failed transaction."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.crypto import get_suite
from node.execution.context import BlockInfo, CallContext, FuelMeter, Revert
from node.execution.system import acl, sysconfig
from node.execution.system.committee import (
    COMMITTEE_ADDRESS,
    EXECUTED,
    EXPIRED,
    FAILED,
    OPEN,
    PROPOSAL_TYPES,
    REJECTED,
    Committee,
    Rates,
    Tally,
    read_members,
    read_proposal,
    read_rates,
)
from node.genesis import Genesis, GenesisNode
from node.params import ChainParams
from node.state import StateOverlay
from node.wire import codec

SUITE = get_suite("std")


def addr(n: int) -> bytes:
    return bytes([n]) * 20


A, B, C, D, OUTSIDER = addr(1), addr(2), addr(3), addr(4), addr(9)


class Dict:
    def __init__(self, data: dict[bytes, bytes]) -> None:
        self.data = data

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)


class Gov:
    """A committee on a genesis state; ``call`` runs one transaction at ``height``."""

    def __init__(self, *, weights: dict[bytes, int] | None = None, validators: int = 4, observers: int = 1,
                 consensus: str = "pbft", participation: int = 51, win: int = 51,
                 roles: dict[str, tuple[bytes, ...]] | None = None) -> None:
        self.keys = [SUITE.generate_keypair() for _ in range(validators + observers)]
        nodes = tuple(GenesisNode(f"n{i}", "validator" if i < validators else "observer", k.public_bytes, "127.0.0.1", 1000 + i)
                      for i, k in enumerate(self.keys))
        self.genesis = Genesis(chain_id="gov", suite="std", consensus=consensus, timestamp_ms=0, nodes=nodes, admins=(A,),
                               committee=weights if weights is not None else {A: 1, B: 1, C: 1, D: 1},
                               participation_rate=participation, win_rate=win, roles=roles or {})
        self.state = {k: v for k, v in self.genesis.initial_writes().items() if v is not None}
        self.height = 1
        self.events: list[Any] = []

    @property
    def reader(self) -> Dict:
        return Dict(self.state)

    def call(self, sender: bytes, method: str, args: dict[str, Any], height: int | None = None) -> Any:
        overlay = StateOverlay(self.reader)
        ctx = CallContext(state=overlay, block=BlockInfo(height or self.height, 0, "gov", SUITE), sender=sender,
                          origin=sender, contract=COMMITTEE_ADDRESS, fuel=FuelMeter(10**9))
        out = Committee().call(ctx, method, codec.encode(args))
        for key, value in overlay.writes.items():
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value
        self.events = [(e.name, codec.decode(e.data)) for e in ctx.events]
        return codec.decode(out) if out else None

    def propose(self, sender: bytes, type_: str, payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return self.call(sender, "propose", {"type": type_, "payload": payload, **extra})

    def vote(self, sender: bytes, pid: int, yes: bool, height: int | None = None) -> dict[str, Any]:
        return self.call(sender, "vote", {"id": pid, "yes": yes}, height)

    def status(self, pid: int) -> str:
        p = read_proposal(self.reader, pid)
        assert p is not None
        return p.status

    def passes(self, type_: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Propose with A and carry it with the other members' yes votes, in address order."""
        out = self.propose(A, type_, payload)
        for voter in sorted(set(read_members(self.reader)) - {A}):
            if self.status(out["id"]) == OPEN:
                self.vote(voter, out["id"], True)
        assert self.status(out["id"]) == EXECUTED, read_proposal(self.reader, out["id"])
        return out


# --- arithmetic ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("yes", "no", "total", "rates", "passed"), [
    (51, 0, 100, Rates(51, 51), True),  # participation exactly at the rate
    (50, 0, 100, Rates(51, 51), False),  # one short
    (51, 49, 100, Rates(51, 51), True),  # win exactly 51% of 100 participating
    (50, 50, 100, Rates(51, 51), False),
    (60, 40, 100, Rates(100, 60), True),  # everyone took part, 60% yes
    (59, 40, 100, Rates(100, 60), False),  # one abstained: participation below 100%
    (1, 0, 100, Rates(0, 1), True),  # no participation floor: one yes decides
    (0, 10, 100, Rates(0, 1), False),  # never without a yes
    (2, 1, 3, Rates(51, 67), False),  # 2/3 = 66.7% < 67%
    (2, 1, 3, Rates(51, 66), True),
])
def test_pass_condition_at_the_boundaries(yes, no, total, rates, passed):
    assert Tally(yes, no, total).passed(rates) is passed


@pytest.mark.parametrize(("no", "total", "rates", "rejected"), [
    (49, 100, Rates(51, 51), False),  # the other 51 could still win it
    (50, 100, Rates(51, 51), True),  # 50/100 < 51%
    (40, 100, Rates(51, 60), False),
    (41, 100, Rates(51, 60), True),
])
def test_rejection_when_the_win_rate_is_out_of_reach(no, total, rates, rejected):
    assert Tally(0, no, total).rejected(rates) is rejected


def test_weights_decide_not_heads():
    gov = Gov(weights={A: 6, B: 1, C: 1, D: 1})  # A alone holds 6/9 = 67%
    out = gov.propose(A, "grant_deploy", {"address": OUTSIDER})
    assert out["status"] == EXECUTED and acl.can_deploy(gov.reader, OUTSIDER)
    names = [n for n, _ in gov.events]
    assert names == ["Proposed", "Voted", "Passed", "Executed"]


def test_three_of_four_equal_members_pass_and_execute_in_the_passing_call():
    gov = Gov()
    pid = gov.propose(A, "grant_role", {"address": OUTSIDER, "role": "regulator"})["id"]
    assert gov.vote(B, pid, True)["status"] == OPEN  # 50% participation < 51%
    assert not acl.has_role(gov.reader, OUTSIDER, "regulator")
    assert gov.vote(C, pid, True)["status"] == EXECUTED
    assert acl.has_role(gov.reader, OUTSIDER, "regulator")
    assert [n for n, _ in gov.events] == ["Voted", "Passed", "Executed"]
    p = read_proposal(gov.reader, pid)
    assert p is not None and p.closed_height == gov.height and p.votes == {A: True, B: True, C: True}


def test_rejected_once_no_votes_make_the_win_rate_unreachable():
    gov = Gov()
    pid = gov.propose(A, "grant_deploy", {"address": OUTSIDER})["id"]
    assert gov.vote(B, pid, False)["status"] == OPEN  # 3 of 4 could still say yes
    assert gov.vote(C, pid, False)["status"] == REJECTED
    assert gov.events[-1][0] == "Rejected"
    assert not acl.can_deploy(gov.reader, OUTSIDER)
    with pytest.raises(Revert, match="is rejected; votes are closed"):
        gov.vote(D, pid, True)


def test_a_vote_can_change_but_not_repeat():
    gov = Gov()
    pid = gov.propose(A, "grant_deploy", {"address": OUTSIDER})["id"]
    gov.vote(B, pid, False)
    with pytest.raises(Revert, match="already voted no"):
        gov.vote(B, pid, False)
    with pytest.raises(Revert, match="already voted yes"):
        gov.vote(A, pid, True)
    gov.vote(B, pid, True)  # changed
    assert gov.events[0] == ("Voted", {"id": pid, "voter": B, "yes": True, "changed": True})
    assert gov.vote(C, pid, True)["status"] == EXECUTED
    with pytest.raises(Revert, match="is executed; votes are closed"):
        gov.vote(D, pid, True)


def test_removed_members_votes_stop_counting():
    gov = Gov()
    pid = gov.propose(A, "grant_deploy", {"address": OUTSIDER})["id"]
    gov.vote(B, pid, True)
    gov.passes("remove_member", {"address": B})  # now A, C, D: A's yes alone is 33%
    assert gov.vote(C, pid, True)["status"] == EXECUTED  # A + C = 67%: B's old vote did not count
    assert Tally.of(read_proposal(gov.reader, pid), read_members(gov.reader)).total == 3


# --- expiry -------------------------------------------------------------------------------------


def test_votes_are_accepted_below_the_expiry_height_only():
    gov = Gov()
    pid = gov.propose(A, "grant_deploy", {"address": OUTSIDER}, expiry_blocks=5)["id"]  # proposed at 1: expires at 6
    gov.vote(B, pid, True, height=5)
    with pytest.raises(Revert, match="expired at height 6"):
        gov.vote(C, pid, True, height=6)
    assert gov.status(pid) == OPEN  # the refused vote changed nothing: still stored open...
    assert read_proposal(gov.reader, pid).effective_status(6) == EXPIRED  # ...but reads expired
    gov.height = 6
    gov.propose(A, "grant_deploy", {"address": addr(8)}, expiry_blocks=5)  # the next committee transaction sweeps
    assert gov.status(pid) == EXPIRED
    assert ("Expired", {"id": pid, "expiry_height": 6}) in gov.events
    assert not acl.can_deploy(gov.reader, OUTSIDER)


def test_query_reports_expired_from_the_head_before_the_expiry_height():
    gov = Gov()
    pid = gov.propose(A, "grant_deploy", {"address": OUTSIDER}, expiry_blocks=2)["id"]
    overlay = StateOverlay(gov.reader)
    ctx = CallContext(state=overlay, block=BlockInfo(2, 0, "gov", SUITE), sender=bytes(20), origin=bytes(20),
                      contract=COMMITTEE_ADDRESS, fuel=FuelMeter(10**9), read_only=True)
    view = codec.decode(Committee().call(ctx, "proposal", codec.encode({"id": pid})))
    assert view["status"] == EXPIRED  # head 2: the next block, 3, is at the expiry height
    assert view["tally"] == {"yes": 1, "no": 0, "total": 4}


# --- refusals -----------------------------------------------------------------------------------


def test_non_members_may_neither_propose_nor_vote():
    gov = Gov()
    with pytest.raises(Revert, match="only committee members may propose"):
        gov.propose(OUTSIDER, "grant_deploy", {"address": OUTSIDER})
    pid = gov.propose(A, "grant_deploy", {"address": OUTSIDER})["id"]
    with pytest.raises(Revert, match="only committee members may vote"):
        gov.vote(OUTSIDER, pid, True)
    for missing in (99, 0, -5, 2**64 - 1):
        with pytest.raises(Revert, match=f"no proposal {missing}"):
            gov.vote(B, missing, True)


@pytest.mark.parametrize(("type_", "payload", "message"), [
    ("make_king", {"address": OUTSIDER}, "unknown proposal type 'make_king'"),
    ("grant_deploy", {}, "missing payload field 'address'"),
    ("grant_deploy", {"address": OUTSIDER, "extra": 1}, "unknown payload field 'extra'"),
    ("grant_deploy", {"address": b"\x01" * 19}, "20-byte address"),
    ("grant_deploy", {"address": "0x" + "01" * 20}, "must be address"),
    ("add_member", {"address": OUTSIDER, "weight": True}, "'weight' must be int"),
    ("add_member", {"address": OUTSIDER, "weight": 0}, "weight must be 1..1000000"),
    ("add_member", {"address": A, "weight": 1}, "already a committee member"),
    ("remove_member", {"address": OUTSIDER}, "is not a committee member"),
    ("set_weight", {"address": A, "weight": 1}, "already has weight 1"),
    ("set_rates", {"participation": 51, "win": 0}, "zero win rate"),
    ("set_rates", {"participation": 101, "win": 51}, "participation rate 101% is outside 0..100%"),
    ("set_rates", {"participation": 51, "win": 51}, "already these"),
    ("set_param", {"key": "no_such_param", "value": 1}, "unknown parameter"),
    ("set_param", {"key": "block_tx_limit", "value": 0}, "must be between"),
    ("set_param", {"key": "max_code_bytes", "value": 1024 * 1024}, "could never be deployed"),
    ("grant_role", {"address": OUTSIDER, "role": "king"}, "unknown role 'king'"),
    ("revoke_role", {"address": OUTSIDER, "role": "regulator"}, "does not hold the role regulator"),
    ("revoke_deploy", {"address": OUTSIDER}, "may not deploy contracts"),
    ("grant_deploy", {"address": A}, "may already deploy"),  # genesis admin
    ("unfreeze", {"address": OUTSIDER}, "is not frozen"),
    ("freeze", {"address": B}, "is a committee member"),
    ("promote_validator", {"pubkey": b"\x02" * 32}, "is not in the node list"),
    ("admit_observer", {"pubkey": b"\x02" * 7, "name": "x", "host": "h", "p2p_port": 1}, "not a valid std public key"),
    ("admit_observer", {"pubkey": "00", "name": "x", "host": "h", "p2p_port": 1}, "'pubkey' must be pubkey"),
])
def test_bad_payloads_are_refused_at_propose_time_and_change_nothing(type_, payload, message):
    gov = Gov()
    before = dict(gov.state)
    with pytest.raises(Revert, match=message):
        gov.propose(A, type_, payload)
    assert gov.state == before


def test_bad_propose_arguments_are_refused():
    gov = Gov()
    with pytest.raises(Revert, match="unknown argument 'nonsense'"):
        gov.call(A, "propose", {"type": "grant_deploy", "payload": {"address": OUTSIDER}, "nonsense": 1})
    with pytest.raises(Revert, match="'payload' must be dict"):
        gov.call(A, "propose", {"type": "grant_deploy", "payload": [1]})
    with pytest.raises(Revert, match="expiry_blocks"):
        gov.propose(A, "grant_deploy", {"address": OUTSIDER}, expiry_blocks=0)
    with pytest.raises(Revert, match="reason"):
        gov.propose(A, "grant_deploy", {"address": OUTSIDER}, reason="x" * 2000)
    with pytest.raises(Revert, match="'yes' must be bool"):
        gov.call(A, "vote", {"id": 1, "yes": 1})


def test_the_consortium_keeps_four_pbft_validators():
    gov = Gov(validators=4)
    validator = gov.keys[0].public_bytes
    for type_ in ("demote_validator", "remove_node"):
        with pytest.raises(Revert, match="would have 3 validator\\(s\\); pbft needs at least 4"):
            gov.propose(A, type_, {"pubkey": validator})
    gov.passes("remove_node", {"pubkey": gov.keys[4].public_bytes})  # an observer may go


def test_raft_keeps_three_validators_and_four_may_shrink_to_three():
    gov = Gov(validators=4, consensus="raft")
    gov.passes("demote_validator", {"pubkey": gov.keys[0].public_bytes})
    assert sysconfig.validator_count(gov.reader) == 3
    with pytest.raises(Revert, match="raft needs at least 3"):
        gov.propose(A, "demote_validator", {"pubkey": gov.keys[1].public_bytes})


def test_the_last_member_and_the_last_regulator_stay():
    gov = Gov(weights={A: 1}, roles={"regulator": (OUTSIDER,)})
    with pytest.raises(Revert, match="last committee member"):
        gov.propose(A, "remove_member", {"address": A})
    with pytest.raises(Revert, match="last regulator"):
        gov.propose(A, "revoke_role", {"address": OUTSIDER, "role": "regulator"})
    gov.propose(A, "grant_role", {"address": B, "role": "regulator"})  # one member: passes at once
    assert acl.role_count(gov.reader, "regulator") == 2
    assert gov.propose(A, "revoke_role", {"address": OUTSIDER, "role": "regulator"})["status"] == EXECUTED
    assert acl.role_count(gov.reader, "regulator") == 1


def test_a_node_id_is_admitted_once():
    gov = Gov()
    new = SUITE.generate_keypair().public_bytes
    payload = {"pubkey": new, "name": "org5", "host": "10.0.0.5", "p2p_port": 26601}
    pid = gov.propose(A, "admit_observer", payload)["id"]
    with pytest.raises(Revert, match=f"proposal {pid} already proposes admitting"):
        gov.propose(B, "admit_observer", payload)
    with pytest.raises(Revert, match="already in the node list"):
        gov.propose(A, "admit_observer", {**payload, "pubkey": gov.keys[0].public_bytes})


def test_a_proposal_that_can_no_longer_execute_fails_and_changes_nothing():
    gov = Gov(validators=5, observers=0)
    first = gov.propose(A, "demote_validator", {"pubkey": gov.keys[0].public_bytes})["id"]
    second = gov.propose(A, "demote_validator", {"pubkey": gov.keys[1].public_bytes})["id"]
    for pid in (first, second):
        gov.vote(B, pid, True)
    gov.vote(C, first, True)
    assert sysconfig.validator_count(gov.reader) == 4
    gov.vote(C, second, True)
    p = read_proposal(gov.reader, second)
    assert p is not None and p.status == FAILED and "pbft needs at least 4" in p.error
    assert gov.events[-1][0] == "Failed"
    assert sysconfig.validator_count(gov.reader) == 4


# --- effects of every type ----------------------------------------------------------------------


def test_member_and_rate_proposals_take_effect():
    gov = Gov()
    gov.passes("add_member", {"address": OUTSIDER, "weight": 3})
    assert read_members(gov.reader)[OUTSIDER] == 3
    gov.passes("set_weight", {"address": OUTSIDER, "weight": 1})
    assert read_members(gov.reader)[OUTSIDER] == 1
    gov.passes("remove_member", {"address": OUTSIDER})
    assert OUTSIDER not in read_members(gov.reader)
    gov.passes("set_rates", {"participation": 100, "win": 75})
    assert read_rates(gov.reader) == Rates(100, 75)


def test_node_list_proposals_keep_the_validator_count():
    gov = Gov(validators=4, observers=0)
    gov.height = 7
    new = SUITE.generate_keypair().public_bytes
    gov.passes("admit_observer", {"pubkey": new, "name": "org5", "host": "10.0.0.5", "p2p_port": 26601,
                                  "organisation": "Fifth Bank"})
    record = sysconfig.read_node(gov.reader, new)
    assert record == sysconfig.NodeRecord(new, "org5", "observer", "10.0.0.5", 26601)
    assert sysconfig.read_node_meta(gov.reader, record) == sysconfig.NodeMeta("Fifth Bank", 8)
    assert sysconfig.validator_count(gov.reader) == 4
    gov.height = 9
    gov.passes("promote_validator", {"pubkey": new})
    assert sysconfig.read_node(gov.reader, new).role == "validator"
    assert sysconfig.read_node_meta(gov.reader, record) == sysconfig.NodeMeta("Fifth Bank", 10)
    assert sysconfig.validator_count(gov.reader) == 5
    gov.passes("demote_validator", {"pubkey": new})
    assert sysconfig.validator_count(gov.reader) == 4
    gov.passes("promote_validator", {"pubkey": new})
    gov.passes("remove_node", {"pubkey": new})
    assert sysconfig.read_node(gov.reader, new) is None
    assert sysconfig.validator_count(gov.reader) == 4
    assert sysconfig.read_node_meta(gov.reader, gov_record(gov, 0)) == sysconfig.NodeMeta("n0", 0)  # genesis node


def gov_record(gov: Gov, i: int) -> sysconfig.NodeRecord:
    record = sysconfig.read_node(gov.reader, gov.keys[i].public_bytes)
    assert record is not None
    return record


def test_set_param_takes_effect_and_says_from_which_height():
    gov = Gov()
    gov.height = 12
    gov.passes("set_param", {"key": "block_tx_limit", "value": 7})
    assert ChainParams.read(gov.reader).block_tx_limit == 7
    assert ("ParamChanged", {"key": "block_tx_limit", "value": 7, "effective_height": 13}) in gov.events


def test_permission_proposals_take_effect():
    gov = Gov()
    gov.passes("grant_deploy", {"address": OUTSIDER})
    assert acl.can_deploy(gov.reader, OUTSIDER)
    gov.passes("revoke_deploy", {"address": OUTSIDER})
    assert not acl.can_deploy(gov.reader, OUTSIDER)
    gov.passes("freeze", {"address": OUTSIDER})
    assert acl.is_frozen(gov.reader, OUTSIDER)
    with pytest.raises(Revert, match="is frozen"):
        gov.propose(A, "add_member", {"address": OUTSIDER, "weight": 1})
    gov.passes("unfreeze", {"address": OUTSIDER})
    assert not acl.is_frozen(gov.reader, OUTSIDER)
    for role in acl.ROLES:
        gov.passes("grant_role", {"address": OUTSIDER, "role": role})
    assert acl.roles_of(gov.reader, OUTSIDER) == list(acl.ROLES)
    gov.passes("revoke_role", {"address": OUTSIDER, "role": "credential_issuer"})
    assert "credential_issuer" not in acl.roles_of(gov.reader, OUTSIDER)


def test_every_proposal_type_is_exercised_here():
    tested = {"add_member", "remove_member", "set_weight", "set_rates", "admit_observer", "promote_validator",
              "demote_validator", "remove_node", "set_param", "grant_deploy", "revoke_deploy", "freeze", "unfreeze",
              "grant_role", "revoke_role"}
    assert set(PROPOSAL_TYPES) == tested


def test_listing_filters_and_pages():
    gov = Gov()
    ids = []
    for i in range(5):
        gov.height = 10 + i
        ids.append(gov.propose(A, "grant_deploy", {"address": addr(20 + i)})["id"])
    gov.vote(B, ids[0], False)
    gov.vote(C, ids[0], False)  # rejected

    def query(args: dict[str, Any]) -> dict[str, Any]:
        ctx = CallContext(state=StateOverlay(gov.reader), block=BlockInfo(20, 0, "gov", SUITE), sender=bytes(20),
                          origin=bytes(20), contract=COMMITTEE_ADDRESS, fuel=FuelMeter(10**9), read_only=True)
        return codec.decode(Committee().call(ctx, "proposals", codec.encode(args)))

    assert [p["id"] for p in query({})["proposals"]] == ids[::-1]
    assert [p["id"] for p in query({"status": "rejected"})["proposals"]] == [ids[0]]
    assert [p["id"] for p in query({"from_height": 13})["proposals"]] == [ids[4], ids[3]]
    assert query({"from_height": 13})["next_before"] is None
    page = query({"limit": 2})
    assert [p["id"] for p in page["proposals"]] == [ids[4], ids[3]] and page["next_before"] == ids[3]
    assert [p["id"] for p in query({"limit": 2, "before": page["next_before"]})["proposals"]] == [ids[2], ids[1]]
    with pytest.raises(Revert, match="unknown status"):
        query({"status": "sleeping"})
    for bad, message in (({"type": {"a": 1}}, "unknown proposal type"), ({"status": [1]}, "unknown status"),
                         ({"limit": -1}, "non-negative"), ({"before": 0}, "positive"), ({"from_height": True}, "non-negative")):
        with pytest.raises(Revert, match=message):
            query(bad)


# --- hostile arguments ----------------------------------------------------------------------------

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=80) | st.binary(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_FIELDS = st.sampled_from(["address", "weight", "pubkey", "name", "host", "p2p_port", "organisation", "key", "value",
                           "role", "participation", "win", "extra"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(type_=st.sampled_from([*PROPOSAL_TYPES, "nope", ""]),
       payload=st.dictionaries(_FIELDS, _VALUES, max_size=6) | _VALUES,
       extra=st.dictionaries(st.sampled_from(["reason", "expiry_blocks", "junk"]), _VALUES, max_size=2))
def test_any_proposal_either_goes_through_or_reverts_cleanly(type_, payload, extra):
    gov = Gov(weights={A: 1, B: 1})  # two members: a valid proposal stays open, so its record is checked
    before = dict(gov.state)
    try:
        out = gov.call(A, "propose", {"type": type_, "payload": payload, **extra})
    except Revert:
        assert gov.state == before
        return
    proposal = read_proposal(gov.reader, out["id"])
    assert proposal is not None and proposal.type == type_ and set(proposal.payload) <= set(PROPOSAL_TYPES[type_].fields)


@settings(max_examples=200, deadline=None)
@given(args=st.dictionaries(st.sampled_from(["id", "yes", "junk"]), _VALUES, max_size=3))
def test_any_vote_either_counts_or_reverts_cleanly(args):
    gov = Gov()
    gov.propose(A, "grant_deploy", {"address": OUTSIDER})
    before = dict(gov.state)
    try:
        gov.call(B, "vote", args)
    except Revert:
        assert gov.state == before


def test_genesis_rates_without_listed_members_survive_the_file():
    """A development network's genesis (admins as members, custom rates) must reach the nodes
    with its rates: genesis.json round-trips to the same genesis."""
    from node.genesis import Genesis
    from tests.conftest import make_testnet

    net = make_testnet("std")
    custom = Genesis(**{**net.genesis.__dict__, "participation_rate": 0, "win_rate": 1})
    again = Genesis.from_json(custom.to_json())
    assert again == custom and (again.participation_rate, again.win_rate) == (0, 1) and again.committee is None
    assert "committee" not in net.genesis.to_json()  # default rates: the file is as before
