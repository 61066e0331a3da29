"""Secure aggregation equals plain FedAvg, also when clients drop after masking."""

from __future__ import annotations

import numpy as np
import pytest

from tests.workers.helpers import Crashed, run
from workers.protocols import secagg, shamir
from workers.protocols.channel import MemoryHub, Session
from workers.protocols.errors import InvalidInput, ProtocolError

CLIENTS = ["c1", "c2", "c3", "c4", "c5"]
DIM = 20
CFG = secagg.SecAggConfig(collect_timeout=0.5, frac_bits=24)
# a client sends its key to 4 peers and the server, then 4 shares, then its masked vector
BEFORE_MASKING = 4 + 1 + 4
AFTER_MASKING = BEFORE_MASKING + 1


def _fedavg(dying=None, clients=CLIENTS, cfg=CFG):
    rng = np.random.default_rng(5)
    weights = {c: rng.normal(size=DIM) for c in clients}
    samples = {c: int(rng.integers(1, 500)) for c in clients}
    roles = {"server": lambda s: secagg.run_server(s, clients, DIM, cfg)}
    for c in clients:
        roles[c] = lambda s, c=c: secagg.run_client(s, "server", clients, weights[c], samples[c], cfg)
    out = run(roles, timeout=1.5, dying=dying, return_exceptions=True)
    return out, weights, samples


def _plain(weights, samples, included):
    return sum(samples[c] * weights[c] for c in included) / sum(samples[c] for c in included)


def test_sum_equals_plain_fedavg():
    out, w, n = _fedavg()
    res = out["server"]
    assert res.included == CLIENTS and res.dropped == []
    assert np.max(np.abs(res.average - _plain(w, n, CLIENTS))) < 1e-6
    assert res.total_samples == pytest.approx(sum(n.values()))


def test_client_dropping_before_its_masked_input_is_left_out():
    out, w, n = _fedavg(dying={"c2": BEFORE_MASKING})
    res = out["server"]
    assert isinstance(out["c2"], Crashed)
    assert res.dropped == ["c2"]
    assert np.max(np.abs(res.average - _plain(w, n, res.included))) < 1e-6


def test_client_dropping_after_masking_is_still_counted():
    out, w, n = _fedavg(dying={"c4": AFTER_MASKING, "c5": AFTER_MASKING})
    res = out["server"]
    assert isinstance(out["c4"], Crashed) and isinstance(out["c5"], Crashed)
    assert res.included == CLIENTS
    assert np.max(np.abs(res.average - _plain(w, n, CLIENTS))) < 1e-6


def test_too_many_drops_fail_clearly():
    out, _, _ = _fedavg(dying={"c1": BEFORE_MASKING, "c2": BEFORE_MASKING, "c3": BEFORE_MASKING})
    assert isinstance(out["server"], ProtocolError) and "threshold is 3" in str(out["server"])


def test_server_sees_only_masked_vectors():
    hub = MemoryHub(record=True)
    rng = np.random.default_rng(1)
    weights = {c: rng.normal(size=DIM) for c in CLIENTS[:3]}
    roles = {"server": lambda s: secagg.run_server(s, CLIENTS[:3], DIM, CFG)}
    for c in CLIENTS[:3]:
        roles[c] = lambda s, c=c: secagg.run_client(s, "server", CLIENTS[:3], weights[c], 1, CFG)
    run(roles, hub=hub)
    from workers.protocols import fixedpoint
    for c in CLIENTS[:3]:
        raw = fixedpoint.encode(np.concatenate([weights[c], [1.0]]), CFG.frac_bits, 3).astype("<u8").tobytes()
        assert not any(raw[:64] in f for _, _, f in hub.sent)


def test_client_refuses_an_inconsistent_survivor_list():
    hub = MemoryHub()
    server = Session(hub.transport("server"), "task-1", 2)
    clients = CLIENTS[:3]
    roles = {c: (lambda c=c: secagg.run_client(Session(hub.transport(c), "task-1", 2), "server", clients,
                                                 np.zeros(3), 1, CFG)) for c in clients}
    from workers.protocols.channel import run_parties

    def fake_server():
        for c in clients:
            server.recv(c, "sa.key", 0)
        for c in clients:
            server.recv(c, "sa.masked", 2)
        for c in clients:  # claims c3 dropped yet asks c3 too: c3 must refuse to reveal
            server.send(c, "sa.unmask", 3, {"survivors": ["c1", "c2"], "dropped": ["c3"]})

    out = run_parties({**roles, "server": fake_server}, return_exceptions=True)
    assert isinstance(out["c3"], ProtocolError)


def test_bad_inputs_are_refused():
    with pytest.raises(InvalidInput):
        secagg.run_client(None, "server", ["a", "b"], np.zeros(2), 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        secagg.SecAggConfig(threshold=1).t(5)


def test_shamir_threshold():
    secret = bytes(range(32))
    shares = shamir.split(secret, 3, 5)
    assert shamir.combine({1: shares[0], 3: shares[2], 5: shares[4]}, 3) == secret
    assert shamir.combine({2: shares[1], 4: shares[3], 5: shares[4]}, 3) == secret
    with pytest.raises(InvalidInput):
        shamir.combine({1: shares[0], 2: shares[1]}, 3)
