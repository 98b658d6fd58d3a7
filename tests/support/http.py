"""A raw HTTP/1.1 client for the server tests: one request per connection, every byte visible."""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    """Lower-case names; a repeated header keeps its last value."""
    body: bytes


def base_of(ws_url: str) -> tuple[str, int]:
    """(host, port) of a server's ``ws://`` URL."""
    parts = urlsplit(ws_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


async def request(
    ws_url: str,
    target: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
    tls: ssl.SSLContext | None = None,
) -> Reply:
    """Send ``method target`` to the server at ``ws_url`` and read the whole answer (it closes);
    over TLS with ``tls`` (a ``wss://`` server)."""
    host, port = base_of(ws_url)
    reader, writer = await asyncio.open_connection(host, port, ssl=tls)
    fields = {"Host": f"{host}:{port}", "User-Agent": "cadence-tests", **(headers or {})}
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    writer.write(head.encode("latin-1"))
    await writer.drain()
    try:
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    return parse(raw)


def parse(raw: bytes) -> Reply:
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"no end of head in {raw[:200]!r}"
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(status, headers, body)


def lan_address() -> str | None:
    """This machine's address on its network (not loopback), or None if it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))  # no packet is sent: this only picks the route
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address
