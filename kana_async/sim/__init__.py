"""The embedded Kana exchange simulator: REST, indexer WebSocket and Aptos node on 127.0.0.1."""
