"""Network presets (REST, indexer WebSocket, Aptos node) and client-wide settings.

``local`` has no fixed URLs: with no explicit URL the client starts the embedded simulator
and uses the addresses it binds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

from .errors import ValidationError

__all__ = [
    "KANA_PACKAGE_ADDRESS",
    "NETWORKS",
    "Network",
    "NetworkConfig",
    "check_url",
    "resolve_network",
]

Network = Literal["local", "testnet", "mainnet"]

#: The Kana perpetuals package (module ``perpetual_scripts``) on mainnet, and by all
#: evidence on testnet too.
KANA_PACKAGE_ADDRESS = "0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6"


@dataclass(frozen=True)
class NetworkConfig:
    """Where one Kana deployment lives: its REST, indexer WebSocket and Aptos node URLs and
    its chain id (nothing is signed for a node of another chain). ``None`` means "not known
    yet" (the local simulator, whose URLs exist once it runs). ``KanaClient.config`` is the
    one in use.
    """

    name: str
    rest_url: str | None
    ws_url: str | None
    node_url: str | None
    chain_id: int | None = None

    def with_overrides(
        self, *, rest_url: str | None = None, ws_url: str | None = None, node_url: str | None = None
    ) -> NetworkConfig:
        """A copy with any given URL replacing the preset's."""
        return replace(
            self,
            rest_url=rest_url or self.rest_url,
            ws_url=ws_url or self.ws_url,
            node_url=node_url or self.node_url,
        )

    @property
    def complete(self) -> bool:
        """True when every URL (REST, WebSocket, node) is known."""
        return None not in (self.rest_url, self.ws_url, self.node_url)


NETWORKS: dict[str, NetworkConfig] = {
    "local": NetworkConfig("local", None, None, None, chain_id=4),
    "testnet": NetworkConfig(
        "testnet",
        rest_url="https://perps-tradeapi.kanalabs.io",
        ws_url="wss://perpetuals-indexer-ws-develop.kanalabs.io/ws/",
        node_url="https://api.testnet.aptoslabs.com/v1",
        chain_id=2,
    ),
    "mainnet": NetworkConfig(
        "mainnet",
        rest_url="https://perps-tradeapi.kana.trade",
        ws_url="wss://perpetuals-indexer-ws.kana.trade/ws/",
        node_url="https://api.mainnet.aptoslabs.com/v1",
        chain_id=1,
    ),
}


def resolve_network(
    network: str,
    *,
    rest_url: str | None = None,
    ws_url: str | None = None,
    node_url: str | None = None,
) -> NetworkConfig:
    """The preset for ``network`` with explicit URLs applied on top."""
    try:
        preset = NETWORKS[network]
    except KeyError:
        raise ValidationError(
            "network", f"must be one of {', '.join(NETWORKS)}", network
        ) from None
    for name, url in (("rest_url", rest_url), ("ws_url", ws_url), ("node_url", node_url)):
        if url is not None:
            check_url(url, name)
    return preset.with_overrides(rest_url=rest_url, ws_url=ws_url, node_url=node_url)


_HTTP = ("http", "https")
_SCHEMES = {"rest_url": _HTTP, "node_url": _HTTP, "ws_url": ("ws", "wss", *_HTTP)}


def check_url(url: object, param: str) -> str:
    """``url`` if it is a usable absolute URL for ``param``, else a ``ValidationError``.

    Refused: another scheme than the role takes, no host, whitespace or control characters
    (a pasted ``"...\\n"``), and credentials in the URL: they would show in reprs, logs and
    error texts, where the API key never does (pass it as ``api_key``).
    """
    schemes = _SCHEMES.get(param, (*_HTTP, "ws", "wss"))
    rule = f"must be an absolute {' or '.join(f'{s}://' for s in schemes)} URL"
    if not isinstance(url, str):
        raise ValidationError(param, rule, url)
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValidationError(param, f"{rule}, without spaces or control characters", url)
    try:
        parsed = urlsplit(url)
        host, _ = parsed.hostname, parsed.port  # .port raises on a bad port
    except ValueError:
        raise ValidationError(param, rule, url) from None
    if parsed.username is not None or parsed.password is not None:
        # Not echoed: the point is to keep what it holds out of messages.
        raise ValidationError(param, f"{rule}, without user:password@ (pass api_key instead)")
    if parsed.scheme.lower() not in schemes or not host:
        raise ValidationError(param, rule, url)
    return url
