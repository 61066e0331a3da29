"""Where deployed contracts are recorded: code by hash, and each address's code hash and deployer.

The registry is a system contract so that anyone can ask, through ``state_call``, which code
runs at an address; every node answers with the same code hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from node.crypto.base import CryptoSuite
from node.execution.context import CallContext
from node.execution.system.base import SystemContract, method, require_arg, system_address
from node.state import StateReader
from node.wire import codec

REGISTRY_ADDRESS = system_address(0x2000)
_CODE = b"code/"
_CONTRACT = b"contract/"


def code_key(code_hash: bytes) -> bytes:
    return REGISTRY_ADDRESS + _CODE + code_hash


CONTRACT_KEY_PREFIX = REGISTRY_ADDRESS + _CONTRACT  # + a contract's address: its ContractInfo


def contract_key(address: bytes) -> bytes:
    return REGISTRY_ADDRESS + _CONTRACT + address


def contract_address(suite: CryptoSuite, deployer: bytes, tx_hash: bytes) -> bytes:
    """Deterministic and unpredictable before the transaction exists: H(tag | deployer | tx hash)[-20:]."""
    return suite.hash(b"consortia-contract" + deployer + tx_hash)[-20:]


@dataclass(frozen=True)
class ContractInfo:
    address: bytes
    code_hash: bytes
    deployer: bytes
    height: int
    tx_hash: bytes

    def encode(self) -> bytes:
        return codec.encode(self.to_map())

    def to_map(self) -> dict[str, Any]:
        return {"address": self.address, "code_hash": self.code_hash, "deployer": self.deployer,
                "height": self.height, "tx_hash": self.tx_hash}

    @classmethod
    def read(cls, state: StateReader, address: bytes) -> ContractInfo | None:
        raw = state.get(contract_key(address))
        if raw is None:
            return None
        m = msgpack.unpackb(raw, raw=False)
        return cls(address=address, code_hash=m["code_hash"], deployer=m["deployer"], height=m["height"], tx_hash=m["tx_hash"])


class ContractRegistry(SystemContract):
    """Read-only views of the registry; deployment itself is a transaction to the empty address."""

    address = REGISTRY_ADDRESS
    name = "contracts"

    @method(read_only=True)
    def info(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any] | None:
        address = require_arg(args, "address", bytes)
        info = ContractInfo.read(ctx.state, address)
        return None if info is None else info.to_map()

    @method(read_only=True)
    def code(self, ctx: CallContext, args: dict[str, Any]) -> bytes | None:
        address = require_arg(args, "address", bytes)
        info = ContractInfo.read(ctx.state, address)
        return None if info is None else ctx.state.get(code_key(info.code_hash))
