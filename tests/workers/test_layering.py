"""Protocols stay independent of the chain: nothing under workers/protocols imports node or consensus."""

from __future__ import annotations

import ast
from pathlib import Path

PROTOCOLS = Path(__file__).resolve().parents[2] / "workers" / "protocols"


def test_protocols_import_neither_node_nor_consensus():
    offenders = []
    for path in PROTOCOLS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("node", "consensus")]
    assert offenders == []
    assert len(list(PROTOCOLS.glob("*.py"))) >= 10
