"""``sub_*``: block and event subscriptions (WebSocket only; see node/rpc/subscriptions.py)."""

from __future__ import annotations

from typing import Any

from node.rpc.env import RpcEnv
from node.rpc.registry import rpc_method
from node.rpc.subscriptions import SubscriptionSession


@rpc_method("sub_subscribe", websocket=True)
def sub_subscribe(env: RpcEnv, session: SubscriptionSession, topic: Any = None, from_height: Any = None,
                  filter: Any = None) -> str:
    """Takes named params {topic, from_height, filter} or one positional object with them."""
    if isinstance(topic, dict) and from_height is None and filter is None:
        params = topic
    else:
        params = {"topic": topic}
        if from_height is not None:
            params["from_height"] = from_height
        if filter is not None:
            params["filter"] = filter
    return session.subscribe(params)


@rpc_method("sub_unsubscribe", websocket=True)
def sub_unsubscribe(env: RpcEnv, session: SubscriptionSession, subscription: Any) -> bool:
    return session.unsubscribe(subscription)
