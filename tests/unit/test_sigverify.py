"""Batched signature verification in worker processes gives the same answers as inline."""

import asyncio

import pytest

from node.crypto import get_suite
from node.sigverify import BatchVerifier


@pytest.mark.parametrize("workers", [0, 1])
async def test_batch_verifier_matches_inline(workers):
    suite = get_suite("sm")
    verifier = BatchVerifier("sm", workers=workers, max_batch=8)
    verifier.start()
    try:
        key = suite.generate_keypair()
        msgs = [bytes([i]) * (i + 1) for i in range(40)]
        sigs = [suite.sign(key.private_bytes, m) for m in msgs]
        sigs[3] = bytes(64)
        sigs[17] = sigs[18]
        results = await asyncio.gather(*(verifier.verify(key.public_bytes, m, s) for m, s in zip(msgs, sigs)))
        expected = [suite.verify(key.public_bytes, m, s) for m, s in zip(msgs, sigs)]
        assert results == expected
        assert results.count(False) == 2
    finally:
        verifier.close()


def test_workers_exit_when_their_node_is_killed(tmp_path):
    """kill -9 of the node leaves no verification worker behind (they used to wait forever)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "verifying_process.py"
    script.write_text(
        "import asyncio, os, time\n"
        "from node.sigverify import BatchVerifier\n"
        "def children():\n"
        "    out = []\n"
        "    for p in os.listdir('/proc'):\n"
        "        try:\n"
        "            if p.isdigit() and open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1] == str(os.getpid()):\n"
        "                out.append(p)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return out\n"
        "if __name__ == '__main__':\n"
        "    v = BatchVerifier('std', workers=2)\n"
        "    v.start()\n"
        "    asyncio.run(v.verify(b'k' * 32, b'm', b's' * 64))\n"
        "    time.sleep(1)\n"
        "    print(' '.join(children()), flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        assert proc.stdout is not None
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert len(workers) >= 2, workers
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        alive = workers
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [w for w in workers if _running(w)]
        assert alive == []
    finally:
        proc.kill()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
