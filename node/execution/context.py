"""What a contract sees while it runs: state, caller, block, fuel, events."""

from __future__ import annotations

from dataclasses import dataclass, field

from node.crypto.base import CryptoSuite
from node.errors import ConsortiaError
from node.state import StateOverlay
from node.wire.types import MAX_EVENTS_PER_RECEIPT, Event

# Fuel schedule for native operations (WASM instructions are metered by wasmtime itself).
FUEL_TX_BASE = 1_000
FUEL_PER_TX_BYTE = 2
FUEL_STORAGE_READ = 50
FUEL_STORAGE_WRITE = 200
FUEL_PER_STORED_BYTE = 5
FUEL_EVENT = 100
FUEL_PER_EVENT_BYTE = 2


class ExecutionFailure(ConsortiaError):
    """Ends one transaction as failed; its state changes are dropped, its fuel is charged."""

    code = -32007
    kind = "execution_error"


class OutOfFuel(ExecutionFailure):
    kind = "out_of_fuel"


class Revert(ExecutionFailure):
    """A contract rejected the call with a message."""

    kind = "revert"


class VmResourceError(RuntimeError):
    """This node could not provide what a call needs (e.g. the VM's instance pool is exhausted).

    Not a transaction failure: failing the transaction here but not on other nodes would fork
    the chain, so the block is abandoned instead and the error is logged.
    """


class FuelMeter:
    """Counts fuel against the transaction's limit; raises OutOfFuel when it would be exceeded."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    @property
    def remaining(self) -> int:
        return self.limit - self.used

    def charge(self, amount: int) -> None:
        if amount < 0:
            raise ValueError("negative fuel charge")
        if self.used + amount > self.limit:
            self.used = self.limit
            raise OutOfFuel(f"out of fuel (limit {self.limit})")
        self.used += amount


@dataclass
class BlockInfo:
    height: int
    timestamp_ms: int
    chain_id: str
    suite: CryptoSuite | None = None  # the chain's suite, for contracts that check keys (the committee)


@dataclass
class CallContext:
    """One contract invocation. ``state`` is the transaction's overlay; ``read_only`` for queries."""

    state: StateOverlay
    block: BlockInfo
    sender: bytes
    origin: bytes
    contract: bytes
    fuel: FuelMeter
    read_only: bool = False
    sender_pubkey: bytes = b""
    events: list[Event] = field(default_factory=list)
    depth: int = 0

    # Storage scoped to the running contract.
    def storage_get(self, key: bytes) -> bytes | None:
        self.fuel.charge(FUEL_STORAGE_READ)
        return self.state.get(self.contract + key)

    def storage_set(self, key: bytes, value: bytes) -> None:
        if self.read_only:
            raise ExecutionFailure("state writes are not allowed in a read-only call")
        self.fuel.charge(FUEL_STORAGE_WRITE + FUEL_PER_STORED_BYTE * (len(key) + len(value)))
        self.state.set(self.contract + key, value)

    def storage_remove(self, key: bytes) -> None:
        if self.read_only:
            raise ExecutionFailure("state writes are not allowed in a read-only call")
        self.fuel.charge(FUEL_STORAGE_WRITE)
        self.state.delete(self.contract + key)

    def emit(self, name: str, data: bytes) -> None:
        if len(self.events) >= MAX_EVENTS_PER_RECEIPT:
            raise ExecutionFailure(f"more than {MAX_EVENTS_PER_RECEIPT} events in one transaction")
        self.fuel.charge(FUEL_EVENT + FUEL_PER_EVENT_BYTE * len(data))
        self.events.append(Event(contract=self.contract, name=name, data=data))
