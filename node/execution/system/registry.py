"""The one table of native system contracts: which classes exist, at which fixed address, by which name.

Each contract declares its own ``address`` and ``name`` in its own file; this table lists the
classes and checks that no two share either. Executors get their contracts here, and the SDK,
CLI and benchmarks look addresses up here instead of spelling them out, so adding a system
contract touches only its file, this table and its tests.
"""

from __future__ import annotations

from collections.abc import Iterable

from node.execution.system.acl import Acl
from node.execution.system.base import SystemContract, system_address
from node.execution.system.committee import Committee
from node.execution.system.contracts import ContractRegistry
from node.execution.system.sysconfig import SysConfig

SYSTEM_CONTRACTS: tuple[type[SystemContract], ...] = (
    SysConfig,
    ContractRegistry,
    Acl,
    Committee,
)


def check_table(table: Iterable[type[SystemContract]]) -> dict[bytes, type[SystemContract]]:
    """The table by address; raises ValueError if an address is not a system address or an address or name repeats."""
    by_address: dict[bytes, type[SystemContract]] = {}
    by_name: dict[str, type[SystemContract]] = {}
    for cls in table:
        address, name = cls.address, cls.name
        if len(address) != 20 or address != system_address(int.from_bytes(address[18:], "big")):
            raise ValueError(f"system contract {name!r}: 0x{address.hex()} is not a system address")
        if address in by_address:
            raise ValueError(f"system contracts {by_address[address].name!r} and {name!r} share address 0x{address.hex()}")
        if name in by_name:
            raise ValueError(f"system contracts {by_name[name].__name__} and {cls.__name__} share the name {name!r}")
        by_address[address] = cls
        by_name[name] = cls
    return by_address


_BY_ADDRESS = check_table(SYSTEM_CONTRACTS)
_BY_NAME = {cls.name: cls for cls in SYSTEM_CONTRACTS}


def system_contracts() -> tuple[SystemContract, ...]:
    """Fresh instances of every system contract, for one executor."""
    return tuple(cls() for cls in SYSTEM_CONTRACTS)


def address_of(name: str) -> bytes:
    """The fixed address of the system contract called ``name`` (e.g. ``"sysconfig"``)."""
    cls = _BY_NAME.get(name)
    if cls is None:
        raise KeyError(f"no system contract named {name!r} (known: {', '.join(sorted(_BY_NAME))})")
    return cls.address


def by_address(address: bytes) -> type[SystemContract] | None:
    """The system contract class at ``address``, or None if no system contract lives there."""
    return _BY_ADDRESS.get(address)
