"""The permissions contract: genesis seeds roles, the read side answers from state, bad arguments revert."""

from __future__ import annotations

import msgpack
import pytest

from node.errors import ConfigError, ExecutionError
from node.execution.system.acl import ACL_ADDRESS, ROLES, can_deploy, has_role, is_frozen, role_key, roles_of
from node.genesis import Genesis
from tests.conftest import make_testnet


def _genesis_with_roles(roles):
    net = make_testnet("std")
    raw = net.genesis.to_json()
    raw["roles"] = roles
    return net, Genesis.from_json(raw)


def test_genesis_roles_round_trip_and_seed_state():
    net = make_testnet("std")
    admin = net.suite.address(net.admin.public_bytes)
    user = net.suite.address(net.user.public_bytes)
    _, genesis = _genesis_with_roles({"regulator": ["0x" + admin.hex()], "credential_issuer": ["0x" + admin.hex(), "0x" + user.hex()]})
    assert Genesis.from_json(genesis.to_json()) == genesis
    writes = genesis.initial_writes()
    state = {k: v for k, v in writes.items() if v is not None}

    class Reader:
        def get(self, key):
            return state.get(key)

    assert has_role(Reader(), admin, "regulator") and not has_role(Reader(), user, "regulator")
    assert roles_of(Reader(), admin) == ["regulator", "credential_issuer"]
    assert roles_of(Reader(), user) == ["credential_issuer"]
    assert not can_deploy(Reader(), admin) and not is_frozen(Reader(), admin)


@pytest.mark.parametrize("roles, message", [
    ({"king": []}, "unknown role"),
    ({"regulator": "0x00"}, "must be a list"),
    ({"regulator": ["0x" + "00" * 19]}, "20 bytes"),
    ({"regulator": ["0x" + "11" * 20, "0x" + "11" * 20]}, "listed once"),
    ([], "must be an object"),
])
def test_genesis_refuses_bad_roles(roles, message):
    with pytest.raises(ConfigError, match=message):
        _genesis_with_roles(roles)


def test_role_keys_live_under_the_acl_address_and_refuse_unknown_roles():
    assert role_key("regulator", b"\x01" * 20).startswith(ACL_ADDRESS)
    assert len({role_key(r, b"\x01" * 20) for r in ROLES}) == len(ROLES)
    with pytest.raises(ValueError):
        role_key("validator", b"\x01" * 20)


def test_acl_contract_answers_queries_from_committed_state(tmp_path):
    from node.chain import Chain
    from node.store.chainstore import ChainStore

    net, genesis = _genesis_with_roles({})
    admin = net.suite.address(net.admin.public_bytes)
    raw = genesis.to_json()
    raw["roles"] = {"regulator": ["0x" + admin.hex()]}
    genesis = Genesis.from_json(raw)
    store = ChainStore(tmp_path / "data")
    try:
        chain = Chain(genesis, store)
        assert has_role(chain.state, admin, "regulator")

        def q(method, args):
            return msgpack.unpackb(chain.executor.query(ACL_ADDRESS, method, msgpack.packb(args)), raw=False)

        assert q("roles", {"address": admin}) == ["regulator"]
        assert q("has_role", {"address": admin, "role": "regulator"}) is True
        assert q("has_role", {"address": admin, "role": "credential_issuer"}) is False
        assert q("can_deploy", {"address": admin}) is True  # genesis admins deploy unless genesis names deployers
        assert q("can_deploy", {"address": bytes(20)}) is False
        assert q("is_frozen", {"address": admin}) is False
        for method, args, message in [("has_role", {"address": admin, "role": "king"}, "unknown role"),
                                      ("roles", {"address": b"\x01"}, "20 bytes"),
                                      ("roles", {}, "missing argument")]:
            with pytest.raises(ExecutionError, match=message):
                chain.executor.query(ACL_ADDRESS, method, msgpack.packb(args))
    finally:
        store.close()
