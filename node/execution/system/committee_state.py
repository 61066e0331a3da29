"""The committee's stored state and its arithmetic: members, rates, proposals, tallies.

Read by the contract (``committee``), by the proposal types that change the committee itself
(``proposals``) and by genesis. Every value is canonical msgpack under ``COMMITTEE_ADDRESS``:
``members`` = ``[[address, weight], ...]`` sorted by address; ``rates`` = ``{participation, win}``
(percent); ``next_id`` = int; ``open`` = ``[[id, expiry_height], ...]`` ascending by id;
``proposal/<id: 8-byte big-endian>`` = the ``Proposal.to_map`` map (docs/governance.md, Storage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from node.execution.context import CallContext, Revert
from node.execution.system.base import system_address, write_key
from node.state import StateReader
from node.wire import codec

COMMITTEE_ADDRESS = system_address(0x4000)

_MEMBERS = b"members"
_RATES = b"rates"
_NEXT_ID = b"next_id"
_OPEN = b"open"
_PROPOSAL = b"proposal/"

DEFAULT_PARTICIPATION = 51  # percent of the total weight that must have voted
DEFAULT_WIN = 51  # percent of the participating weight that must have voted yes
MAX_WEIGHT = 1_000_000
MAX_MEMBERS = 100
MAX_OPEN = 100  # open proposals at once: bounds the expiry sweep every committee transaction does
MAX_REASON_BYTES = 1_024
DEFAULT_EXPIRY_BLOCKS = 10_000
MAX_EXPIRY_BLOCKS = 1_000_000
LIST_LIMIT = 100  # proposals one ``proposals`` query returns at most
LIST_SCAN = 2_000  # proposal ids one ``proposals`` query looks at at most


OPEN, EXECUTED, FAILED, REJECTED, EXPIRED = "open", "executed", "failed", "rejected", "expired"
STATUSES = (OPEN, EXECUTED, FAILED, REJECTED, EXPIRED)



def _key(suffix: bytes) -> bytes:
    return COMMITTEE_ADDRESS + suffix


def proposal_key(proposal_id: int) -> bytes:
    return COMMITTEE_ADDRESS + _PROPOSAL + proposal_id.to_bytes(8, "big")


# --- members and rates -----------------------------------------------------------------------


@dataclass(frozen=True)
class Rates:
    participation: int
    win: int

    def encode(self) -> bytes:
        return codec.encode({"participation": self.participation, "win": self.win})


def check_rates(participation: object, win: object) -> Rates:
    """The rates if they are allowed (participation 0..100, win 1..100); raises Revert otherwise."""
    for name, value in (("participation", participation), ("win", win)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise Revert(f"'{name}' must be an integer percentage")
    assert isinstance(participation, int) and isinstance(win, int)
    if not 0 <= participation <= 100:
        raise Revert(f"participation rate {participation}% is outside 0..100%")
    if not 1 <= win <= 100:
        raise Revert(f"win rate {win}% is outside 1..100%: a zero win rate would pass proposals nobody supports")
    return Rates(participation, win)


def encode_members(members: dict[bytes, int]) -> bytes:
    return codec.encode([[address, weight] for address, weight in sorted(members.items())])


def read_members(state: StateReader) -> dict[bytes, int]:
    raw = state.get(_key(_MEMBERS))
    return {} if raw is None else {bytes(a): int(w) for a, w in codec.decode(raw)}


def read_rates(state: StateReader) -> Rates:
    raw = state.get(_key(_RATES))
    if raw is None:
        return Rates(DEFAULT_PARTICIPATION, DEFAULT_WIN)
    m = codec.decode(raw)
    return Rates(int(m["participation"]), int(m["win"]))


def genesis_writes(members: dict[bytes, int], rates: Rates) -> dict[bytes, bytes]:
    """The committee's state at genesis."""
    return {_key(_MEMBERS): encode_members(members), _key(_RATES): rates.encode(), _key(_NEXT_ID): codec.encode(1),
            _key(_OPEN): codec.encode([])}


def write_members(ctx: CallContext, members: dict[bytes, int]) -> None:
    write_key(ctx, _key(_MEMBERS), encode_members(members))


def write_rates(ctx: CallContext, rates: Rates) -> None:
    write_key(ctx, _key(_RATES), rates.encode())


def members_key() -> bytes:
    return _key(_MEMBERS)


def open_key() -> bytes:
    return _key(_OPEN)


def next_id_key() -> bytes:
    return _key(_NEXT_ID)


# --- proposals -------------------------------------------------------------------------------


@dataclass
class Proposal:
    id: int
    type: str
    payload: dict[str, Any]
    proposer: bytes
    reason: str
    height: int  # proposed in this block
    expiry_height: int  # votes are accepted in blocks below this height
    status: str = OPEN
    votes: dict[bytes, bool] = field(default_factory=dict)
    closed_height: int = 0  # the block that closed it (0 while open)
    error: str = ""  # why execution failed (status ``failed``)

    def to_map(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "payload": self.payload, "proposer": self.proposer, "reason": self.reason,
                "height": self.height, "expiry_height": self.expiry_height, "status": self.status,
                "votes": [[voter, yes] for voter, yes in sorted(self.votes.items())], "closed_height": self.closed_height,
                "error": self.error}

    @classmethod
    def from_map(cls, m: dict[str, Any]) -> Proposal:
        return cls(id=m["id"], type=m["type"], payload=m["payload"], proposer=m["proposer"], reason=m["reason"],
                   height=m["height"], expiry_height=m["expiry_height"], status=m["status"],
                   votes={bytes(v): bool(y) for v, y in m["votes"]}, closed_height=m["closed_height"], error=m["error"])

    def effective_status(self, height: int) -> str:
        """The status as of block ``height``: an open proposal past its expiry reads as expired."""
        return EXPIRED if self.status == OPEN and height >= self.expiry_height else self.status


def read_proposal(state: StateReader, proposal_id: int) -> Proposal | None:
    raw = state.get(proposal_key(proposal_id))
    return None if raw is None else Proposal.from_map(codec.decode(raw))


def next_proposal_id(state: StateReader) -> int:
    raw = state.get(_key(_NEXT_ID))
    return 1 if raw is None else int(codec.decode(raw))


@dataclass(frozen=True)
class Tally:
    yes: int
    no: int
    total: int

    @classmethod
    def of(cls, proposal: Proposal, members: dict[bytes, int]) -> Tally:
        yes = sum(members[v] for v, y in proposal.votes.items() if y and v in members)
        no = sum(members[v] for v, y in proposal.votes.items() if not y and v in members)
        return cls(yes=yes, no=no, total=sum(members.values()))

    def passed(self, rates: Rates) -> bool:
        participating = self.yes + self.no
        return (self.yes > 0 and participating * 100 >= rates.participation * self.total
                and self.yes * 100 >= rates.win * participating)

    def rejected(self, rates: Rates) -> bool:
        """Not even every remaining member voting yes could reach the win rate."""
        return (self.total - self.no) * 100 < rates.win * self.total
