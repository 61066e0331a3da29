"""The method registry: what the decorator accepts, and that every method is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from node.rpc.handlers import all_methods
from node.rpc.registry import MethodRegistry

DOCS = Path(__file__).resolve().parents[2] / "docs" / "json-rpc.md"


def documented_methods() -> set[str]:
    """Method names from the reference's headings, e.g. ### `tx_getReceipt(hash, proof=false)`."""
    return set(re.findall(r"^### `(\w+)\(", DOCS.read_text(), flags=re.MULTILINE))


def test_every_registered_method_is_documented_and_every_documented_one_registered():
    registered = set(all_methods().names)
    assert registered, "importing node.rpc.handlers registers the methods"
    assert registered - documented_methods() == set(), "document these in docs/json-rpc.md"
    assert documented_methods() - registered == set(), "docs/json-rpc.md describes methods the node does not serve"


def test_documented_parameters_match_the_handlers():
    """The heading's parameter names are the names a client may pass in a by-name call."""
    text = DOCS.read_text()
    for entry in all_methods():
        heading = re.search(rf"^### `{entry.name}\(([^)]*)\)", text, flags=re.MULTILINE)
        assert heading is not None
        names = [p.split("=")[0].strip(" {}?") for p in heading.group(1).split(",") if p.strip()]
        assert names == list(entry.names), entry.name


def test_only_websocket_methods_take_the_session():
    assert {m.name for m in all_methods() if m.websocket} == {"sub_subscribe", "sub_unsubscribe"}


def test_registration_is_checked():
    registry = MethodRegistry()

    @registry.method("x_one")
    def one(env, a, b=1):
        return a + b

    assert [p.name for p in registry.get("x_one").params] == ["a", "b"]
    assert registry.get("x_one").handler is one and not registry.get("x_one").is_async
    with pytest.raises(ValueError, match="twice"):
        registry.add("x_one", one)
    with pytest.raises(TypeError, match="env"):
        registry.add("x_two", lambda a: a)
    with pytest.raises(TypeError, match="session"):
        registry.add("x_three", lambda env, a: a, websocket=True)

    @registry.method("x_ws", websocket=True)
    async def ws(env, session, topic):
        return topic

    assert [p.name for p in registry.get("x_ws").params] == ["topic"] and registry.get("x_ws").is_async
    assert registry.names == ["x_one", "x_ws"] and len(registry) == 2
