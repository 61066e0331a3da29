"""Every byte string a busy chain stores for clients is canonical msgpack, checked the strict way
docs/transaction-format.md tells clients to: decode, re-encode, compare.

The chain mixes parameter changes (sysconfig's ParamChanged), contract deploys (the registry's
ContractDeployed and the deploy's return value) and evidence records (a WASM contract's event and
return value), then reads every receipt back from the store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.chain import Chain
from node.store.chainstore import ChainStore
from node.wire import codec
from node.wire.types import STATUS_OK, Receipt
from tests.conftest import SYSCONFIG, make_testnet, set_param
from tests.unit.test_chain import seal

EVIDENCE = Path(__file__).resolve().parents[2] / "contracts_wasm" / "dist" / "evidence.wasm"


def strict(data: bytes) -> object:
    """Decode ``data`` and require the re-encoding to be byte-identical (the client's check)."""
    value = codec.decode(data)
    assert codec.encode(value) == data, data.hex()
    return value


@pytest.mark.parametrize("suite", ["sm", "std"])
def test_a_busy_chain_stores_only_canonical_event_data_and_return_values(suite: str, tmp_path: Path):
    net = make_testnet(suite)
    store = ChainStore(tmp_path / "d")
    chain = Chain(net.genesis, store, wasm_cache_dir=tmp_path / "wc")
    try:
        deploy = net.tx(net.admin, to=b"", method="deploy", args={"code": EVIDENCE.read_bytes()}, fuel_limit=50_000_000)
        chain.submit(deploy.encode())
        for key, value in (("min_seal_ms", 7), ("block_tx_limit", 1234), ("max_tx_fuel", 400_000_000)):
            chain.submit(net.tx(net.admin, **set_param(key, value)).encode())
        seal(chain, net.validator)
        deployed = chain.store.receipts_at(1)[0]
        assert deployed.status == STATUS_OK, deployed.error
        evidence = codec.decode(deployed.return_value)["address"]
        for i in range(6):
            args = {"hash": bytes([i]) * 32, "kind": "data_input", "metadata": {"rows": i, "by": "test"}}
            if i % 2:
                args["task_id"] = f"task-{i}"
            chain.submit(net.tx(net.user, to=evidence, method="record", args=args, fuel_limit=5_000_000).encode())
            chain.submit(net.tx(net.admin, **set_param("min_seal_ms", 10 + i)).encode())
            chain.submit(net.tx(net.user, method="list").encode())  # a read-only method run as a transaction
            seal(chain, net.validator)

        names: set[str] = set()
        returns = 0
        for height in range(1, chain.height + 1):
            for raw in (r.encode() for r in chain.store.receipts_at(height)):
                receipt = Receipt.decode(raw)
                assert receipt.status == STATUS_OK, receipt.error
                if receipt.return_value:
                    strict(receipt.return_value)
                    returns += 1
                for event in receipt.events:
                    data = strict(event.data)
                    names.add(event.name)
                    if event.name == "ParamChanged":
                        assert event.contract == SYSCONFIG
                        assert set(data) == {"key", "value", "effective_height"} and data["effective_height"] == height + 1
        assert names == {"ParamChanged", "ContractDeployed", "EvidenceRecorded", "Proposed", "Voted", "Passed", "Executed"}
        assert returns == 1 + 3 + 6 * 3
    finally:
        store.close()
