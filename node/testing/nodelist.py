"""A test-only system contract that changes the node list, for the simulated network.

The simulator needs to change the validator set from inside a block, exactly as an executed
governance proposal does, without a committee vote in every test. This contract writes the same
state entries (``NodeRecord`` under ``NODE_PREFIX`` and ``validator_count``) and is installed
only by ``SimNetwork(node_list_contract=True)``: no production executor has it. Only a genesis
admin may call it, and it refuses what a proposal would refuse (a second admission, an unknown
node, promoting a validator).
"""

from __future__ import annotations

from typing import Any

import msgpack

from node.execution.context import CallContext, Revert
from node.execution.system.base import SystemContract, method, require_arg, system_address
from node.execution.system.sysconfig import VALIDATOR_COUNT_KEY, NodeRecord, admin_key, encode_count, node_key

TEST_NODE_LIST_ADDRESS = system_address(0xFFF0)


class TestNodeList(SystemContract):
    address = TEST_NODE_LIST_ADDRESS
    name = "test_node_list"

    @staticmethod
    def _require_admin(ctx: CallContext) -> None:
        if ctx.state.get(admin_key(ctx.sender)) is None:
            raise Revert("only a genesis admin may change the node list in a test")

    @staticmethod
    def _record(ctx: CallContext, pubkey: bytes) -> NodeRecord:
        raw = ctx.state.get(node_key(pubkey))
        if raw is None:
            raise Revert("no such node")
        return NodeRecord.decode(pubkey, raw)

    @staticmethod
    def _write(ctx: CallContext, record: NodeRecord | None, pubkey: bytes, delta: int) -> None:
        if record is None:
            ctx.state.delete(node_key(pubkey))
        else:
            ctx.state.set(node_key(pubkey), record.encode())
        raw = ctx.state.get(VALIDATOR_COUNT_KEY)
        count = 1 if raw is None else int(msgpack.unpackb(raw))
        ctx.state.set(VALIDATOR_COUNT_KEY, encode_count(count + delta))
        ctx.emit("NodeListChanged", pubkey)

    @method()
    def admit_observer(self, ctx: CallContext, args: dict[str, Any]) -> Any:
        self._require_admin(ctx)
        pubkey = require_arg(args, "pubkey", bytes)
        if ctx.state.get(node_key(pubkey)) is not None:
            raise Revert("node already in the node list")
        record = NodeRecord(pubkey, require_arg(args, "name", str), "observer", require_arg(args, "host", str),
                            require_arg(args, "p2p_port", int))
        self._write(ctx, record, pubkey, 0)

    @method()
    def promote_validator(self, ctx: CallContext, args: dict[str, Any]) -> Any:
        self._require_admin(ctx)
        record = self._record(ctx, require_arg(args, "pubkey", bytes))
        if record.role != "observer":
            raise Revert("only an observer can be promoted")
        self._write(ctx, NodeRecord(record.pubkey, record.name, "validator", record.host, record.p2p_port), record.pubkey, 1)

    @method()
    def demote_validator(self, ctx: CallContext, args: dict[str, Any]) -> Any:
        self._require_admin(ctx)
        record = self._record(ctx, require_arg(args, "pubkey", bytes))
        if record.role != "validator":
            raise Revert("only a validator can be demoted")
        self._write(ctx, NodeRecord(record.pubkey, record.name, "observer", record.host, record.p2p_port), record.pubkey, -1)

    @method()
    def remove_node(self, ctx: CallContext, args: dict[str, Any]) -> Any:
        self._require_admin(ctx)
        record = self._record(ctx, require_arg(args, "pubkey", bytes))
        self._write(ctx, None, record.pubkey, -1 if record.role == "validator" else 0)
