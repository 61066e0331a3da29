"""The table of system contracts: unique addresses and names, lookups, and every executor serving every entry."""

from __future__ import annotations

from typing import Any

import pytest

from node.chain import Chain
from node.crypto import get_suite
from node.errors import ExecutionError
from node.execution.context import CallContext
from node.execution.executor import Executor
from node.execution.system.base import SystemContract, method, system_address
from node.execution.system.registry import SYSTEM_CONTRACTS, address_of, by_address, check_table, system_contracts
from node.state import CommittedState
from node.store.chainstore import ChainStore
from tests.conftest import SYSCONFIG, make_testnet


class _NoNonces:
    def nonce_expiry(self, sender: bytes, nonce: bytes) -> int | None:
        return None


def _fake(address: bytes, name: str) -> type[SystemContract]:
    class Fake(SystemContract):
        @method(read_only=True)
        def ping(self, ctx: CallContext, args: dict[str, Any]) -> Any:
            return "pong"

    Fake.address, Fake.name = address, name
    return Fake


def test_the_table_lists_each_address_and_name_once():
    assert len({c.address for c in SYSTEM_CONTRACTS}) == len({c.name for c in SYSTEM_CONTRACTS}) == len(SYSTEM_CONTRACTS)
    assert check_table(SYSTEM_CONTRACTS) == {c.address: c for c in SYSTEM_CONTRACTS}


@pytest.mark.parametrize(("table", "message"), [
    ((_fake(system_address(0x1000), "other"),), "share address"),
    ((_fake(system_address(0x7777), "sysconfig"),), "share the name"),
    ((_fake(bytes(19), "short"),), "not a system address"),
    ((_fake(b"\x01" + bytes(17) + b"\x77\x77", "high"),), "not a system address"),
])
def test_clashing_or_misplaced_entries_are_refused(table, message):
    with pytest.raises(ValueError, match=message):
        check_table((*SYSTEM_CONTRACTS, *table))


def test_lookups_by_name_and_address():
    assert address_of("sysconfig") == system_address(0x1000) == SYSCONFIG
    assert address_of("contracts") == system_address(0x2000)
    for cls in SYSTEM_CONTRACTS:
        assert by_address(address_of(cls.name)) is cls
    assert by_address(bytes(20)) is None
    with pytest.raises(KeyError, match="no system contract named 'nope'"):
        address_of("nope")


def test_system_contracts_are_fresh_instances_of_every_entry():
    first, second = system_contracts(), system_contracts()
    assert [type(c) for c in first] == list(SYSTEM_CONTRACTS)
    assert all(a is not b for a, b in zip(first, second, strict=True))


def _assert_dispatches_to_every_entry(executor: Executor) -> None:
    for cls in SYSTEM_CONTRACTS:
        assert isinstance(executor.system[cls.address], cls)
        with pytest.raises(ExecutionError, match=f"^{cls.name}: unknown method 'no_such_method'$"):
            executor.query(cls.address, "no_such_method", b"")


def test_a_bare_executor_dispatches_to_every_listed_contract():
    suite = get_suite("std")
    _assert_dispatches_to_every_entry(Executor(suite, "t", CommittedState(lambda key: None), _NoNonces(), system_contracts()))


def test_the_chain_executor_dispatches_to_every_listed_contract_and_extras(tmp_path):
    net = make_testnet("std")
    extra = _fake(system_address(0x7777), "extra")
    store = ChainStore(tmp_path / "data")
    try:
        chain = Chain(net.genesis, store, extra_contracts=(extra(),))
        _assert_dispatches_to_every_entry(chain.executor)
        assert chain.query(extra.address, "ping", b"") == b"\xa4pong"
    finally:
        store.close()


def test_sdk_and_cli_take_addresses_from_the_table():
    from node import bench
    from node.cli import demo
    from node.rpc.handlers import gov
    from node.sdk import contracts, governance

    assert contracts.REGISTRY_ADDRESS == address_of("contracts")
    assert demo.SYSCONFIG == gov.SYSCONFIG == address_of("sysconfig")
    assert demo.COMMITTEE == bench.COMMITTEE == governance.COMMITTEE == gov.COMMITTEE == address_of("committee")
