"""Single-validator throughput: pre-signed transactions over JSON-RPC to committed blocks."""

from node.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
