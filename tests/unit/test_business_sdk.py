"""The business-contract SDK on an in-process node: deploy_all, then each module's calls end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.errors import ConfigError
from node.sdk import Account, RpcClient
from node.sdk.catalog import AccessRequest, Catalog, Dataset, Field
from node.sdk.contracts import Contract, ContractError
from node.sdk.deployments import BUILTINS, address_of, deploy_all, init_args_for, load, save
from node.sdk.did import Did, verification_method
from node.sdk.evidence import Evidence
from node.sdk.points import Points
from node.sdk.rights import Issue, Rights
from node.sdk.task import PHASES, Task, TaskSpec, commitment
from tests.unit import contract_chain

biz_node = contract_chain.biz_node  # the fixture


def test_contracts_json_round_trip_and_errors(tmp_path: Path):
    assert load(tmp_path) == {}
    with pytest.raises(ConfigError, match="no 'did' contract recorded"):
        address_of(tmp_path, "did")
    save(tmp_path, {"did": {"address": "0x" + "11" * 20, "code_hash": "0x00", "tx": "0x00"}})
    assert address_of(tmp_path, "did") == b"\x11" * 20
    with pytest.raises(ConfigError, match="needs the did contract deployed first"):
        init_args_for("catalog", {})
    with pytest.raises(ConfigError, match="unknown builtin"):
        init_args_for("nope", {})
    (tmp_path / "contracts.json").write_text(json.dumps({"contracts": {"did": {"address": 5}}}))
    with pytest.raises(ConfigError, match="is invalid"):
        load(tmp_path)


async def test_every_module_against_a_node(biz_node, tmp_path: Path):
    net, keys, url = biz_node
    suite = net.suite
    async with RpcClient(url) as client:
        acct = {name: await Account.connect(client, key) for name, key in keys.items()}
        done = await deploy_all(acct["admin"], tmp_path)
        assert set(done) == set(BUILTINS) and load(tmp_path) == done
        assert await deploy_all(acct["admin"], tmp_path) == done  # recorded ones are not deployed again

        def bound(name: str, who: str):
            return Contract(client, done[name], acct[who])

        for who in ("hospital", "bank"):
            await Did(bound("did", who)).create(who, [verification_method(suite, keys[who].public_bytes)])
        await Catalog(bound("catalog", "provider")).register_algorithm("logreg", b"\1" * 32, "rustc 1.63")
        hospital, bank = Catalog(bound("catalog", "hospital")), Catalog(bound("catalog", "bank"))
        ds = await hospital.register_dataset(Dataset(owner="hospital", name="visits", schema=[Field("visits", "int", 8)],
                                                     sample_hash=b"\2" * 32, category="health", level=2, share_mode="compute",
                                                     access="https://h.example/ds", price=3))
        assert [d["id"] for d in (await bank.search(category="health"))["items"]] == [ds]
        await Points(bound("points", "regulator")).mint(acct["bank"].address, 10)
        auth = await bank.request_access(AccessRequest(dataset=ds, requester="bank", purpose="model", quota=1, scope="task",
                                                       task_id="t1", algorithms=["logreg"]))
        await hospital.approve(auth)
        task = Task(bound("task", "bank"))
        await task.create(TaskSpec(id="t1", initiator="bank", participants=["bank", "hospital"], receivers=["bank"],
                                   datasets=[auth], algorithm="logreg", purpose="model"))
        with pytest.raises(ContractError, match="quota exceeded"):
            await bank.fetch(auth, task_id="t1")
        salts = {}
        for phase in PHASES:
            for who in ("bank", "hospital"):
                value, salts[(phase, who)] = commitment(suite, f"{who}/{phase}".encode())
                await Task(bound("task", who)).ack("t1", who, phase, value)
        assert (await task.receive("t1", "bank", b"\3" * 32))["state"] == "succeeded"
        assert await task.verify_commitment("t1", "align", "hospital", salts[("align", "hospital")], b"hospital/align")
        assert (await Evidence(Contract(client, done["evidence"])).task_points("t1"))["complete"] is True
        points = Points(Contract(client, done["points"]))
        assert (await points.balance(acct["bank"].address), await points.balance(acct["hospital"].address)) == (7, 3)

        rights = Rights(bound("rights", "regulator"))
        await rights.create_template("usage", "Usage right", "usage")
        cert = await rights.issue(Issue("usage", "hospital", "dataset 1", "model", 5000, acct["regulator"].address))
        await Rights(bound("rights", "hospital")).list_for_sale(cert, 4)
        assert (await Rights(bound("rights", "bank")).buy(cert, "bank"))["holder"] == "did:consortia:bank"
        assert await points.balance(acct["regulator"].address) == 2 and await points.balance(acct["bank"].address) == 3
