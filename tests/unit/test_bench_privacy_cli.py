"""``consortia bench privacy``: reachable from the node's CLI without the node importing workers up front."""

from __future__ import annotations

import json
import subprocess
import sys

from node.cli.main import build_parser, main


def test_building_the_cli_does_not_import_workers():
    code = ("import sys; from node.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in sys.modules if m == 'workers' or m.startswith('workers.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bench_without_a_target_is_still_the_network_benchmark():
    args = build_parser().parse_args(["bench", "--seconds", "3"])
    assert args.bench_target is None and args.func.__name__ == "_bench"


def test_bench_privacy_runs_the_selected_parts_and_prints_json(capsys):
    code = main(["bench", "privacy", "--parts", "psi,sum", "--psi-size", "300", "--psi-batch", "64",
                 "--ceiling-mults", "400", "--sum-size", "30", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["psi"]["items_each"] == 300 and report["psi"]["intersection"] == 150
    assert report["psi"]["ratio_to_ceiling"] > 0 and 0 < report["psi"]["client_pool_busy"] <= 1
    assert report["secure_sum"]["vector_length"] == 30
    assert "lookup" not in report and "vertical_lr" not in report


def test_bench_privacy_refuses_unknown_parts_and_bad_sizes_in_one_line(capsys):
    assert main(["bench", "privacy", "--parts", "psi,nope"]) == 1
    assert main(["bench", "privacy", "--psi-size", "0"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["error: unknown --parts ['nope'] (choose from psi, lookup, sum, vlr)", "error: --psi-size must be at least 1"]
