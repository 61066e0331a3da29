"""Chain parameters as a low module: defaults, state keys, and the same checks for genesis and ``set``."""

from __future__ import annotations

import msgpack
import pytest

from node.errors import ChainParamError, ConfigError
from node.genesis import Genesis
from node.params import PARAMS, SYSCONFIG_ADDRESS, ChainParams, param_key, validate_param
from tests.conftest import SYSCONFIG, make_testnet


class _Dict:
    def __init__(self, items: dict[bytes, bytes]) -> None:
        self.items = items

    def get(self, key: bytes) -> bytes | None:
        return self.items.get(key)


def test_defaults_when_nothing_is_stored():
    params = ChainParams.read(_Dict({}))
    assert {name: getattr(params, name) for name in PARAMS} == {name: spec.default for name, spec in PARAMS.items()}


def test_stored_values_are_read_from_sysconfig_keys():
    assert SYSCONFIG_ADDRESS == SYSCONFIG
    assert param_key("block_tx_limit") == SYSCONFIG + b"param/block_tx_limit"
    params = ChainParams.read(_Dict({param_key("block_tx_limit"): msgpack.packb(7)}))
    assert params.block_tx_limit == 7 and params.max_tx_fuel == PARAMS["max_tx_fuel"].default


@pytest.mark.parametrize(("name", "value", "message"), [
    ("nope", 1, "unknown parameter 'nope'"),
    ("block_tx_limit", "5", "parameter 'block_tx_limit' must be an integer"),
    ("block_tx_limit", True, "parameter 'block_tx_limit' must be an integer"),
    ("block_tx_limit", 0, "parameter 'block_tx_limit' must be between 1 and 50000"),
])
def test_bad_values_raise_a_low_level_error(name, value, message):
    with pytest.raises(ChainParamError, match=message):
        validate_param(name, value)


def test_genesis_reports_a_bad_value_as_config_error():
    raw = make_testnet("std").genesis.to_json()
    raw["params"] = {"block_tx_limit": 0}
    with pytest.raises(ConfigError, match="genesis: parameter 'block_tx_limit' must be between 1 and 50000"):
        Genesis.from_json(raw)
