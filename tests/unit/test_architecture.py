"""The import rules of docs/architecture.md, checked on the source: each module belongs to one
layer, may import only from the layers listed for it, and no two packages import each other
(directly or around a circle). Every import counts, including ones inside functions and under
``TYPE_CHECKING``: a dependency hidden in a function is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Layer of each module, by longest matching prefix. Keep in step with docs/architecture.md.
LAYER_OF = {
    "node": "foundation",  # the package itself (its version)
    "node.errors": "foundation",
    "node.wire": "foundation",
    "node.crypto": "foundation",
    "node.params": "foundation",
    "node.logsetup": "foundation",
    "node.ratelog": "foundation",
    "node.fdlimit": "foundation",
    "node.boundedcache": "foundation",
    "node.state": "data",
    "node.merkle": "data",
    "node.store": "data",
    "node.events": "data",
    "node.txcheck": "data",
    "node.proofs": "data",
    "node.statetree": "data",
    "node.config": "data",
    "node.keyfile": "data",
    "node.pooljournal": "data",
    "consensus": "consensus",
    "node.execution": "execution",
    "node.vm": "vm",
    "node.txpool": "chain",
    "node.sigverify": "chain",
    "node.genesis": "chain",
    "node.chain": "chain",
    "node.chainview": "chain",
    "node.p2p": "services",
    "node.rpc": "services",
    "node.metrics": "services",
    "node.listener": "services",
    "node.consensus_engine": "services",
    "node.forkwatch": "services",
    "node.sdk": "sdk",
    "node.app": "node",
    "node.preflight": "node",
    "node.devnet": "node",
    "node.testing": "node",
    "node.cli": "tools",
    "node.bench": "tools",
    "node.bench_cluster": "tools",
    "node.bench_load": "tools",
    "node.bench_setup": "tools",
    "node.bench_sustained": "tools",
    "node.benchproc": "tools",
    "node.benchstats": "tools",
    "node.chaos": "tools",
}

BELOW = {
    "foundation": set(),
    "data": {"foundation"},
    "consensus": {"foundation"},
    "execution": {"foundation", "data"},
    "vm": {"foundation", "data", "execution"},
    "chain": {"foundation", "data", "consensus", "execution", "vm"},
    "services": {"foundation", "data", "consensus", "execution", "vm", "chain"},
    "sdk": {"foundation", "data", "consensus", "execution"},
    "node": {"foundation", "data", "consensus", "execution", "vm", "chain", "services"},
    "tools": {"foundation", "data", "consensus", "execution", "vm", "chain", "services", "sdk", "node"},
}


def layer(module: str) -> str | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        found = LAYER_OF.get(".".join(parts[:n]))
        if found is not None:
            return found
    return None


def project_modules() -> dict[str, Path]:
    out = {}
    for top in ("node", "consensus"):
        for path in (ROOT / top).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imports_of(module: str, path: Path) -> set[str]:
    """Project modules named by the import statements of ``path`` (anywhere in the file)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] in ("node", "consensus")}


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an imported name refers to (``from a.b import c`` may name a function c)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = project_modules()
    out = {}
    for module, path in modules.items():
        targets = {resolve(name, modules) for name in imports_of(module, path)}
        out[module] = {t for t in targets if t is not None and t != module}
    return out


def test_every_module_has_a_layer(graph):
    assert [m for m in graph if layer(m) is None] == []


def test_imports_only_point_down(graph):
    violations = []
    for module, targets in graph.items():
        mine = layer(module)
        assert mine is not None
        for target in targets:
            theirs = layer(target)
            if theirs != mine and theirs not in BELOW[mine]:
                violations.append(f"{module} ({mine}) imports {target} ({theirs})")
    assert violations == []


def test_consensus_never_imports_the_node_above_it(graph):
    forbidden = ("node.chain", "node.execution", "node.rpc", "node.p2p", "node.app", "node.vm", "node.store", "node.testing")
    bad = [(m, t) for m, targets in graph.items() if m.startswith("consensus") for t in targets if t.startswith(forbidden)]
    assert bad == []


def package_of(module: str) -> str:
    """Packages are the second level: node.rpc, node.execution, consensus.pbft; top modules stand alone."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_import_cycles_between_packages(graph):
    edges: dict[str, set[str]] = {}
    for module, targets in graph.items():
        src = package_of(module)
        edges.setdefault(src, set()).update(package_of(t) for t in targets if package_of(t) != src)
    # Tarjan's strongly connected components: any component with more than one package is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in list(edges):
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_checker_sees_a_violation(tmp_path):
    """The rules above would catch an upward import (guards against a checker that sees nothing)."""
    fake = tmp_path / "api.py"
    fake.write_text("from node.chain import Chain\nimport node.rpc.server\n")
    found = imports_of("consensus.api", fake)
    assert {"node.chain", "node.chain.Chain", "node.rpc.server"} <= found
    assert layer("node.chain") not in BELOW["consensus"]
