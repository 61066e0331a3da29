"""JSON-RPC 2.0 over HTTP (POST /) and WebSocket (/ws), plus /metrics."""
