"""Four-validator PBFT benchmark: sustained tx/s, latency at half load, catch-up blocks/min."""

from node.bench_cluster import main

if __name__ == "__main__":
    raise SystemExit(main())
