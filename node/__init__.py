"""Consortia node: crypto, wire types, store, state, pool, execution, RPC, SDK and CLI."""

__version__ = "0.1.0"
