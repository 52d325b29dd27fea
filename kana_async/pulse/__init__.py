"""Pulse v2 JSON-RPC client: one WebSocket or HTTP, typed methods and channels."""
