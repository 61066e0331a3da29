"""Permissions: roles, contract-deploy rights and frozen accounts, and the one place they are read.

The pool, the executor, the WASM host (``has_role`` for business contracts) and the RPC layer
all ask the functions here, so the storage layout is written down once. Only the governance
committee writes these keys after genesis (by executing a passed proposal); genesis seeds them.
The read-only methods let anyone ask through ``state_call``.

Stored layout (all under ``ACL_ADDRESS``; every flag's value is ``FLAG``, absent means unset):
``role/<role>/<address>``, ``deploy/<address>``, ``frozen/<address>``, and
``rolecount/<role>`` (msgpack int, the number of holders, so "the last regulator" needs no scan).
"""

from __future__ import annotations

from typing import Any

from node.execution.context import CallContext, Revert
from node.execution.system.base import SystemContract, delete_key, method, read_key, require_arg, system_address, write_key
from node.state import StateReader
from node.wire import codec

ACL_ADDRESS = system_address(0x3000)

# The roles a contract can ask about. The node roles (validator, observer) are not here: they
# live in the node list (sysconfig).
ROLES: tuple[str, ...] = ("consortium_leader", "regulator", "credential_issuer", "algorithm_provider")

_ROLE = b"role/"
_DEPLOY = b"deploy/"
_FROZEN = b"frozen/"
_ROLE_COUNT = b"rolecount/"
FLAG = b"\x01"  # the value of every set flag; an absent key means "not set"


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (known: {', '.join(ROLES)})")


def role_key(role: str, address: bytes) -> bytes:
    """State key that is present while ``address`` holds ``role``."""
    _check_role(role)
    return ACL_ADDRESS + _ROLE + role.encode() + b"/" + address


def role_prefix(role: str) -> bytes:
    """Prefix of every holder of ``role`` (for a store's prefix scan)."""
    _check_role(role)
    return ACL_ADDRESS + _ROLE + role.encode() + b"/"


def role_count_key(role: str) -> bytes:
    """State key holding how many accounts hold ``role`` (canonical msgpack int; absent is 0)."""
    _check_role(role)
    return ACL_ADDRESS + _ROLE_COUNT + role.encode()


def deploy_key(address: bytes) -> bytes:
    """State key that is present while ``address`` may deploy contracts."""
    return ACL_ADDRESS + _DEPLOY + address


def frozen_key(address: bytes) -> bytes:
    """State key that is present while ``address`` is frozen."""
    return ACL_ADDRESS + _FROZEN + address


def has_role(state: StateReader, address: bytes, role: str) -> bool:
    return state.get(role_key(role, address)) is not None


def roles_of(state: StateReader, address: bytes) -> list[str]:
    return [role for role in ROLES if has_role(state, address, role)]


def can_deploy(state: StateReader, address: bytes) -> bool:
    return state.get(deploy_key(address)) is not None


def is_frozen(state: StateReader, address: bytes) -> bool:
    return state.get(frozen_key(address)) is not None


def role_count(state: StateReader, role: str) -> int:
    raw = state.get(role_count_key(role))
    return 0 if raw is None else int(codec.decode(raw))


# --- the write side: called only by the committee when it executes a passed proposal --------
# (and by genesis, which writes the same keys directly). Each assumes the committee checked
# that the change is a change; they do not check again.


def grant_role(ctx: CallContext, role: str, address: bytes) -> None:
    write_key(ctx, role_key(role, address), FLAG)
    write_key(ctx, role_count_key(role), codec.encode(_count(ctx, role) + 1))


def revoke_role(ctx: CallContext, role: str, address: bytes) -> None:
    delete_key(ctx, role_key(role, address))
    write_key(ctx, role_count_key(role), codec.encode(max(0, _count(ctx, role) - 1)))


def _count(ctx: CallContext, role: str) -> int:
    raw = read_key(ctx, role_count_key(role))
    return 0 if raw is None else int(codec.decode(raw))


def grant_deploy(ctx: CallContext, address: bytes) -> None:
    write_key(ctx, deploy_key(address), FLAG)


def revoke_deploy(ctx: CallContext, address: bytes) -> None:
    delete_key(ctx, deploy_key(address))


def freeze(ctx: CallContext, address: bytes) -> None:
    write_key(ctx, frozen_key(address), FLAG)


def unfreeze(ctx: CallContext, address: bytes) -> None:
    delete_key(ctx, frozen_key(address))


def _address_arg(args: dict[str, Any]) -> bytes:
    address = require_arg(args, "address", bytes)
    if len(address) != 20:
        raise Revert("argument 'address' must be 20 bytes")
    return address


def _role_arg(args: dict[str, Any]) -> str:
    role = require_arg(args, "role", str)
    if role not in ROLES:
        raise Revert(f"unknown role '{role}' (known: {', '.join(ROLES)})")
    return role


class Acl(SystemContract):
    """Read-only views of the permissions; changes come only from executed governance proposals."""

    address = ACL_ADDRESS
    name = "acl"

    @method(read_only=True)
    def roles(self, ctx: CallContext, args: dict[str, Any]) -> list[str]:
        return roles_of(ctx.state, _address_arg(args))

    @method(read_only=True)
    def has_role(self, ctx: CallContext, args: dict[str, Any]) -> bool:
        address = _address_arg(args)
        return has_role(ctx.state, address, _role_arg(args))

    @method(read_only=True)
    def can_deploy(self, ctx: CallContext, args: dict[str, Any]) -> bool:
        return can_deploy(ctx.state, _address_arg(args))

    @method(read_only=True)
    def is_frozen(self, ctx: CallContext, args: dict[str, Any]) -> bool:
        return is_frozen(ctx.state, _address_arg(args))
