"""TLS trust options of KanaClient (``ca_file``, ``ssl_context``) against a local server.

The certificates are made per test session: a private CA and a server certificate for
127.0.0.1 it signed, written with the ``openssl`` command.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from kana_async import KanaClient
from kana_async._tasks import timeout
from kana_async.errors import ApiError, TransportError, ValidationError
from kana_async.rest.session import RetryPolicy
from tests.rest.conftest import ok

PRICE = {"bestAskPrice": "5.1", "bestBidPrice": "5.0"}
LEVEL = {"market_id": "1", "price": "5.0", "size": "2", "is_ask": False}


@dataclass(frozen=True)
class Certs:
    ca: Path
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    root = tmp_path_factory.mktemp("tls")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=kana_async test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=root)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=root)
    (root / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-set_serial", "1", "-days", "2", "-extfile", "server.ext", "-out", "server.pem",
             cwd=root)
    return Certs(ca=root / "ca.pem", cert=root / "server.pem", key=root / "server.key")


async def _price(request: web.Request) -> web.Response:
    return web.json_response(ok(PRICE))


async def _ws(request: web.Request) -> web.WebSocketResponse:
    """Answers the first subscription with one order book snapshot, then stays open."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        topic = json.loads(message.data)["topic"]
        await ws.send_str(json.dumps({"message": topic, "data": [LEVEL]}))
    return ws


@asynccontextmanager
async def tls_server(certs: Certs, **routes: Any) -> AsyncIterator[str]:
    """A loopback HTTPS + WSS server; yields its https:// base URL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert, certs.key)
    app = web.Application()
    app.router.add_get("/getMarketPrice", _price)
    app.router.add_get("/ws", _ws)
    for path, handler in routes.items():
        app.router.add_get(f"/{path}", handler)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server(ssl=context)
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def client(base: str, **options: Any) -> KanaClient:
    ws = base.replace("https://", "wss://") + "/ws"
    return KanaClient("testnet", rest_url=base, ws_url=ws, api_key="k",
                      retry=RetryPolicy.never(), **options)


async def test_ca_file_makes_rest_and_the_websocket_trust_the_server(certs: Certs) -> None:
    async with tls_server(certs) as base, client(base, ca_file=certs.ca) as kana, timeout(10):
        price = await kana.rest.get_market_price("1")
        assert price.best_bid_price == 5
        async with kana.stream.orderbook("1") as sub:
            book = await sub.get()
        assert book.best_bid is not None
        assert book.best_bid.size == 2


async def test_ssl_context_is_used_as_given(certs: Certs) -> None:
    context = ssl.create_default_context(cafile=str(certs.ca))
    async with tls_server(certs) as base, client(base, ssl_context=context) as kana:
        assert (await kana.rest.get_market_price("1")).best_ask_price == Decimal("5.1")


async def test_without_the_ca_the_server_is_not_trusted(certs: Certs) -> None:
    async with tls_server(certs) as base, client(base) as kana:
        with pytest.raises(TransportError, match=r"(?i)certificate"):
            await kana.rest.get_market_price("1")


async def test_a_redirect_from_https_to_http_is_refused(certs: Certs) -> None:
    async def downgrade(request: web.Request) -> web.Response:
        location = str(request.url.with_scheme("http").with_path("/getMarketPrice"))
        return web.Response(status=301, headers={"Location": location})

    async with tls_server(certs, getMarketPrice2=downgrade) as base, client(
        base, ca_file=certs.ca
    ) as kana:
        with pytest.raises(ApiError, match=r"another origin \(http://127\.0\.0\.1"):
            await kana.rest.session.get("/getMarketPrice2", None, dict[str, Any])


@pytest.mark.parametrize(
    ("options", "rule"),
    [
        ({"ca_file": "/nonexistent/ca.pem", "ssl_context": ssl.create_default_context()},
         "either ca_file or ssl_context"),
        ({"ssl_context": "yes"}, "must be an ssl.SSLContext"),
        ({"ca_file": 5}, "must be a path"),
        ({"ca_file": "/nonexistent/ca.pem"}, r"readable PEM file .*\(No such file"),
    ],
)
def test_bad_tls_options(options: dict[str, Any], rule: str) -> None:
    with pytest.raises(ValidationError, match=rule):
        KanaClient("testnet", **options)


def test_a_file_without_certificates_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ValidationError, match=r"ca_file: .* \(no usable certificate in it\)"):
        KanaClient("testnet", ca_file=junk)
