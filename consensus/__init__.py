"""Consensus engines behind one interface (consensus.api)."""
