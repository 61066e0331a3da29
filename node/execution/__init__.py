"""Execution: transactions -> receipts, through native system contracts and the WASM VM slot."""
