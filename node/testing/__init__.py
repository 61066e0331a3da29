"""Test harnesses that compose the node with consensus (the deterministic simulated network)."""
