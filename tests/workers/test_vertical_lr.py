"""Vertical LR after PSI alignment: AUC of scikit-learn's centralised model, and what each party sees."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from tests.workers.helpers import run
from workers.protocols import paillier, psi
from workers.protocols import vertical_lr as vlr
from workers.protocols.channel import MemoryHub
from workers.protocols.errors import InvalidInput, PeerTimeout, ProtocolError

CFG = vlr.VlrConfig(key_bits=512, min_key_bits=512, max_iter=60, tol=1e-5, learning_rate=1.5)


def _data(rows=240, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 7))
    w = rng.normal(size=7)
    y = (rng.random(rows) < 1 / (1 + np.exp(-(x @ w - 0.4)))).astype(float)
    return x, y


def test_psi_aligned_vertical_lr_matches_centralised_auc():
    x, y = _data()
    rows = len(y)
    ids = [f"cust-{i:04d}" for i in range(rows)]
    rng = np.random.default_rng(9)
    # the bank (labels + 2 features) and two telecoms (feature columns) hold overlapping customer lists
    bank_rows = rng.permutation(rows)[: rows - 20]
    tel_rows = [rng.permutation(rows)[: rows - 15], rng.permutation(rows)[: rows - 10]]
    bank_ids = [ids[i] for i in bank_rows]
    cfg = psi.PsiConfig(batch=64, result_to="both")
    common = set(bank_ids)
    for t in tel_rows:
        tel_ids = [ids[i] for i in t]
        out = run({"bank": lambda s: psi.run_client(s, "tel", bank_ids, cfg),
                   "tel": lambda s: psi.run_server(s, "bank", tel_ids, cfg)})
        assert sorted(out["bank"]) == sorted(out["tel"])
        common &= set(out["bank"])
    common_list = sorted(common)
    b_idx = bank_rows[vlr.aligned_rows(bank_ids, common_list)]
    t_idx = [t[vlr.aligned_rows([ids[i] for i in t], common_list)] for t in tel_rows]
    assert all((ti == b_idx).all() for ti in t_idx)  # same customers, same order

    xb, xt1, xt2, yb = x[b_idx, :2], x[t_idx[0], 2:5], x[t_idx[1], 5:], y[b_idx]
    key = paillier.generate(512)
    out = run({
        "bank": lambda s: vlr.run_label_holder(s, ["tel1", "tel2"], yb, xb, CFG, key=key),
        "tel1": lambda s: vlr.run_feature_holder(s, "bank", xt1, CFG, peers=["tel2"]),
        "tel2": lambda s: vlr.run_feature_holder(s, "bank", xt2, CFG, peers=["tel1"]),
    }, timeout=30)
    res = out["bank"]
    central = LogisticRegression().fit(x[b_idx], yb)
    auc_central = roc_auc_score(yb, central.predict_proba(x[b_idx])[:, 1])
    assert abs(roc_auc_score(yb, res.probabilities) - auc_central) <= 0.01
    assert res.losses[-1] < res.losses[0]
    assert out["tel1"].shape == (3,) and out["tel2"].shape == (2,)


def test_feature_holder_sees_only_ciphertexts_and_label_holder_only_masked_gradients():
    x, y = _data(rows=60, seed=1)
    key = paillier.generate(512)
    hub = MemoryHub(record=True)
    cfg = vlr.VlrConfig(key_bits=512, min_key_bits=512, max_iter=3)
    out = run({"bank": lambda s: vlr.run_label_holder(s, ["tel"], y, x[:, :2], cfg, key=key),
               "tel": lambda s: vlr.run_feature_holder(s, "bank", x[:, 2:], cfg)}, hub=hub)
    from workers.protocols.messages import decode

    to_tel = [decode(f) for s, t, f in hub.sent if t == "tel"]
    residuals = [e for e in to_tel if e.kind == "vlr.residual" and not e.body["stop"]]
    assert residuals
    for env in residuals:
        cts = env.body["c"]
        assert len(set(cts)) == len(cts)  # equal residuals still give distinct ciphertexts
        plain = [key.public.decode_signed(key.decrypt(int.from_bytes(c, "big"))) for c in cts]
        assert all(abs(v) <= 2**vlr.FD for v in plain)  # they do hold the residuals, under the key
        assert not any(int(abs(v)).to_bytes(8, "big") in b"".join(cts) for v in plain if abs(v) > 2**8)
    # the label holder decrypts masked gradients: far larger than any true gradient
    masked = [e for e in to_tel if e.kind == "vlr.masked"]
    true_bound = 60 * 2**(vlr.FX + vlr.FD + 8)
    values = [int.from_bytes(v, "big") for e in masked for v in e.body["v"]]
    assert sum(v > true_bound for v in values) >= len(values) - 1
    assert out["bank"].iterations == 3


def test_bad_features_and_labels_are_refused():
    x, y = _data(rows=20)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InvalidInput, match="NaN"):
        vlr.run_feature_holder(None, "bank", bad, CFG)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="standardise"):
        vlr.run_feature_holder(None, "bank", x * 1000, CFG)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="labels"):
        vlr.run_label_holder(None, ["tel"], y + 2, None, CFG)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="empty"):
        vlr.run_label_holder(None, ["tel"], np.zeros(0), None, CFG)  # type: ignore[arg-type]


def test_row_count_mismatch_and_weak_keys_are_refused():
    x, y = _data(rows=30)
    key = paillier.generate(512)
    out = run({"bank": lambda s: vlr.run_label_holder(s, ["tel"], y, None, CFG, key=key),
               "tel": lambda s: vlr.run_feature_holder(s, "bank", x[:25], CFG)}, timeout=0.5, return_exceptions=True)
    assert isinstance(out["tel"], ProtocolError) and "30 aligned rows" in str(out["tel"])
    strict = vlr.VlrConfig(key_bits=512, min_key_bits=2048)
    out = run({"bank": lambda s: vlr.run_label_holder(s, ["tel"], y, None, CFG, key=key),
               "tel": lambda s: vlr.run_feature_holder(s, "bank", x, strict)}, timeout=0.5, return_exceptions=True)
    assert isinstance(out["tel"], ProtocolError) and "2048" in str(out["tel"])


def test_feature_holder_that_stops_answering_fails_the_label_holder_clearly():
    from tests.workers.helpers import Crashed

    x, y = _data(rows=30)
    key = paillier.generate(512)
    # the feature holder sends two scores and one gradient, then dies
    out = run({"bank": lambda s: vlr.run_label_holder(s, ["tel"], y, None, CFG, key=key),
               "tel": lambda s: vlr.run_feature_holder(s, "bank", x, CFG)},
              timeout=0.5, dying={"tel": 3}, return_exceptions=True)
    assert isinstance(out["tel"], Crashed)
    assert isinstance(out["bank"], PeerTimeout) and "'tel' stopped answering" in str(out["bank"])


def test_mismatched_training_settings_are_refused():
    x, y = _data(rows=20)
    key = paillier.generate(512)
    other = vlr.VlrConfig(key_bits=512, min_key_bits=512, max_iter=CFG.max_iter + 1, learning_rate=CFG.learning_rate)
    out = run({"bank": lambda s: vlr.run_label_holder(s, ["tel"], y, None, CFG, key=key),
               "tel": lambda s: vlr.run_feature_holder(s, "bank", x, other)}, timeout=0.5, return_exceptions=True)
    assert isinstance(out["tel"], ProtocolError) and "max_iter" in str(out["tel"])
