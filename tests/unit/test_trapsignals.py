"""A library that replaces wasmtime's fault handlers must not turn a contract's trap into a dead node.

Signal handlers belong to the whole process, so each case runs in a fresh interpreter.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Deploys the playground contract, lets ``REPLACE`` take over the handlers, then divides by zero
# in a transaction and in a query; prints what happened to each.
SCRIPT = """
import sys, tempfile
from pathlib import Path
from node.chain import Chain
from node.errors import ExecutionError
from node.store.chainstore import ChainStore
from tests.unit.test_vm import PLAYGROUND, call, deployed, deploying_testnet, wat

net = deploying_testnet()
home = Path(tempfile.mkdtemp())
chain = Chain(net.genesis, ChainStore(home / "data"), wasm_cache_dir=home / "cache")
address = deployed(chain, net, wat(PLAYGROUND))
{replace}
receipt = call(chain, net, address, args=bytes([4]))
print("tx", receipt.status, receipt.error)
for _ in range(2):
    try:
        chain.query(address, "run", bytes([4]))
    except ExecutionError as exc:
        print("query", exc)
    {between}
print("next", call(chain, net, address, args=bytes([0])).status)
"""


def run_script(replace: str, between: str = "pass") -> subprocess.CompletedProcess[str]:
    code = SCRIPT.format(replace=textwrap.dedent(replace), between=between)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("replace", "restored"),
    [
        ("import gmpy2", "SIGFPE"),  # gmpy2 installs a SIGFPE handler that aborts
        ("import faulthandler; faulthandler.enable()", "SIGSEGV, SIGBUS, SIGILL, SIGFPE"),
    ],
)
def test_a_replaced_trap_handler_is_restored_before_contract_code_runs(replace: str, restored: str):
    done = run_script(replace)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"tx 1 .*integer division by zero.*", lines[0]), lines
    assert [line.startswith("query") and "integer division by zero" in line for line in lines[1:3]] == [True, True]
    assert lines[3] == "next 0"
    assert f"trap handlers for {restored} had been replaced" in done.stderr


def test_handlers_replaced_between_queries_are_restored_again():
    done = run_script("pass", between="import signal; signal.signal(signal.SIGFPE, signal.SIG_DFL)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("integer division by zero") == 3
    assert done.stderr.count("had been replaced") == 2  # before the second query, and before the next block
