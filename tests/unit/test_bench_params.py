"""``consortia bench --param``: chain parameters for the benchmark genesis, checked before any node starts."""

from __future__ import annotations

import pytest

from node.bench_setup import BENCH_PARAMS, parse_param_overrides
from node.cli.bench import config_from, format_report
from node.cli.main import build_parser


def _args(*extra: str):
    return build_parser().parse_args(["bench", "--seconds", "3", *extra])


def test_params_reach_the_config_and_the_text_report():
    cfg = config_from(_args("--param", "pbft_pipeline_min_txs=200", "--param", "min_seal_ms=5"))
    assert cfg.params == {"pbft_pipeline_min_txs": 200, "min_seal_ms": 5}
    report = {"date": "d", "command": "c", "engine": "pbft", "results": [], "scaling": [],
              "machine": {"cpu_model": "x", "cores": 2, "ram_bytes": 2**30, "load_average": 0, "load_average_end": 0},
              "settings": {"params": cfg.params, "repeat": 1}}
    assert "chain parameters over the benchmark genesis: min_seal_ms=5, pbft_pipeline_min_txs=200" in format_report(report)


def test_no_params_is_the_benchmark_genesis():
    assert config_from(_args()).params == {}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("pbft_pipeline_min_txs", "NAME=INTEGER"),
        ("min_seal_ms=soon", "NAME=INTEGER"),
        ("no_such_param=3", "unknown parameter 'no_such_param'"),
        ("pbft_window=0", "must be between 1 and 32"),
        ("max_tx_bytes=2000", "max_code_bytes"),  # in range, but contracts of the allowed size could not be deployed
    ],
)
def test_bad_params_are_refused_in_one_line_before_anything_starts(item: str, message: str):
    with pytest.raises(ValueError, match=message):
        parse_param_overrides([item])
    with pytest.raises(SystemExit, match=message):
        config_from(_args("--param", item))


def test_overrides_go_over_the_benchmark_genesis_and_leave_it_unchanged():
    before = dict(BENCH_PARAMS)
    assert parse_param_overrides(["block_tx_limit=100"]) == {"block_tx_limit": 100}
    assert BENCH_PARAMS == before


def test_the_network_is_made_with_the_overrides_in_every_genesis(tmp_path):
    from node.bench_setup import make_bench_net
    from node.config import GENESIS_FILE
    from node.genesis import Genesis

    net = make_bench_net(tmp_path, "std", validators=4, params={"pbft_pipeline_min_txs": 150})
    for node in net.nodes:
        params = Genesis.load(node.home / GENESIS_FILE).chain_params()
        assert params.pbft_pipeline_min_txs == 150 and params.min_seal_ms == BENCH_PARAMS["min_seal_ms"]
