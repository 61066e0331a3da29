"""``sub_*``: block and event subscriptions (WebSocket only; see node/rpc/subscriptions.py)."""

from __future__ import annotations

from typing import Any

from node.rpc.env import RpcEnv
from node.rpc.registry import rpc_method
from node.rpc.subscriptions import SubscriptionSession


@rpc_method("sub_subscribe", websocket=True)
def sub_subscribe(env: RpcEnv, session: SubscriptionSession, topic: Any, from_height: Any = None,
                  filter: Any = None) -> str:
    """``[topic, from_height, filter]`` or ``{topic, from_height, filter}``; null means the default."""
    return session.subscribe(topic, from_height, filter)


@rpc_method("sub_unsubscribe", websocket=True)
def sub_unsubscribe(env: RpcEnv, session: SubscriptionSession, subscription: Any) -> bool:
    return session.unsubscribe(subscription)
