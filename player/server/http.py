"""Plain HTTP on the websocket's own port: the web client, a track's audio and its cover art.

``cadence serve`` is one ``websockets`` server. Every request reaches :meth:`HttpService.process_request`
(the library's ``process_request`` hook) first:

- a websocket upgrade passes on to the handshake once its ``Host`` and ``Origin`` are allowed (and,
  beyond loopback, is marked authenticated if it carries the page's cookie);
- anything else is answered here and the connection closed (``Connection: close``, one request per
  connection): ``GET``/``HEAD`` of ``/`` (the page), ``/static/NAME`` (its files, from
  ``player/web``), ``/tracks/ID/audio`` and ``/tracks/ID/art``; everything else is 404, other
  methods 405.

Small answers (the page, art, errors) go back as the hook's ``Response``. Audio is streamed: the
hook writes the response on the connection's transport itself (file bytes by ``loop.sendfile``,
transcoded bytes as ffmpeg produces them), with flow control and a deadline per chunk
(``send_timeout_s``), closes the connection and returns; the library sends nothing more on a closed
connection. So a slow reader holds only its own connection, never the event loop.

Only library tracks are served, by id (the id must be in the library; nothing from the URL ever
reaches the filesystem), and only files of ``player/web`` listed at start. When the library changes
while the server runs, the server hands the new track map over (:meth:`HttpService.use_tracks`). Security is the
websocket's: loopback by default, where the ``Host`` header must name a loopback address too (DNS
rebinding); beyond loopback every request needs the token — the page's cookie (set by opening
``/?token=…`` once), ``Authorization: Bearer``, or, for a track's URLs, the short-lived signature
the queue carries (:mod:`player.core.links`); wrong tokens back off like the websocket's. A
browser ``Origin`` must be in the allowlist or the server's own. Every answer carries a strict
Content-Security-Policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from player.core.links import LinkSigner, cookie_value
from player.core.track import Track
from player.server.media import (
    TRANSCODED_TYPE,
    Art,
    cover_art,
    ffmpeg_path,
    if_range_holds,
    media_type,
    not_modified,
    parse_range,
    transcode_command,
    validators,
)
from player.settings import Settings

__all__ = ["COOKIE", "WEB_DIR", "HttpService", "client_address", "csp", "is_loopback", "is_loopback_host"]

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
"""The web client's files (``player/web``)."""

COOKIE = "cadence"
"""The page's cookie beyond loopback (its value: :func:`player.core.links.cookie_value`)."""

_STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_STATIC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TRACK_PATH = re.compile(r"^/tracks/([^/]+)/(audio|art)$")
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_CHUNK = 256 * 1024
_TRANSCODE_NICENESS = 10
"""ffmpeg runs this much nicer than the server: transcoding takes the CPU the sessions leave."""
_REQUEST_HOST: contextvars.ContextVar[str] = contextvars.ContextVar("request_host", default="localhost")
"""The request's (checked) Host header, for the CSP of whatever answers it (one task per request)."""


def csp(host: str) -> str:
    """The Content-Security-Policy of every answer: this server's own scripts, styles, media and
    websocket, nothing inline, nothing from elsewhere, no framing."""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob:; connect-src 'self' ws://{host} wss://{host}; worker-src 'self'; "
        "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def is_loopback(host: str) -> bool:
    """True if ``host`` (a name or an address, no port) is this machine's loopback."""
    host = host.lower()
    if host in ("localhost", "localhost.") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_host(host_header: str | None) -> bool:
    """True if a ``Host`` header (``name[:port]``, ``[v6]:port``) names this machine's loopback."""
    if not host_header:
        return False
    host = host_header.strip()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    return is_loopback(host)


class _Unauthorized(Exception):
    """The request lacks the token (answered 401 after the wrong-token backoff)."""


class HttpService:
    """Answers plain HTTP requests and vets websocket handshakes (see the module docstring).

    ``auth_failed(address)`` is the websocket's wrong-token backoff: it returns the delay before
    answering, shared by both, so guessing over HTTP is no faster.
    """

    def __init__(
        self,
        settings: Settings,
        tracks: Mapping[str, Track],
        *,
        auth_failed: Callable[[str], float],
        web_dir: Path = WEB_DIR,
    ) -> None:
        self.settings = settings
        self.tracks = tracks
        self.signer = LinkSigner.for_token(settings.token, settings.media_url_ttl_s)
        self.auth_failed = auth_failed
        self.preauthorized: weakref.WeakSet[ServerConnection] = weakref.WeakSet()
        """Websocket handshakes that carried the page's cookie: their ``hello`` needs no token."""
        self._cookie = cookie_value(settings.token) if settings.token else None
        self._static = {
            p.name: p for p in sorted(web_dir.glob("*")) if p.is_file() and p.suffix in _STATIC_TYPES
        }
        self._art: dict[str, bool] = {}
        self._streams: set[asyncio.Transport] = set()
        self._transcodes = 0
        self._ffmpeg = ffmpeg_path()

    def use_tracks(self, tracks: Mapping[str, Track]) -> None:
        """Serve ``tracks`` from now on (a newer version of the library): a track no longer in it is
        404, a new one is served, and the cover art of a track whose record changed is read again."""
        before, self.tracks = self.tracks, tracks
        self._art = {tid: known for tid, known in self._art.items() if tracks.get(tid) == before.get(tid)}

    # -- art, for the queues' art_url

    def has_art(self, track_id: str) -> bool:
        """Whether the track has cover art (reads its tags the first time; cached)."""
        known = self._art.get(track_id)
        if known is None:
            known = self._art_of(track_id) is not None
        return known

    def art_known(self, track_id: str) -> bool:
        return track_id in self._art

    def _art_of(self, track_id: str) -> Art | None:
        track = self.tracks.get(track_id)
        art = cover_art(track.path) if track is not None else None
        self._art[track_id] = art is not None
        return art

    # -- the hook

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """The ``websockets`` ``process_request`` hook: None lets a websocket handshake go on."""
        headers = request.headers
        path, _, query_string = request.path.partition("?")
        host = headers.get("Host", "")
        if not self.settings.token and not is_loopback_host(host):
            return self._plain(HTTPStatus.FORBIDDEN, "this server answers only to a loopback host name\n")
        if not _HOST.match(host):
            return self._plain(HTTPStatus.BAD_REQUEST, "bad Host header\n")
        _REQUEST_HOST.set(host)
        origin = headers.get("Origin")
        own = (f"http://{host}", f"https://{host}")
        if origin is not None and origin not in self.settings.allowed_origins and origin not in own:
            logger.warning("refusing a request from origin %s (%s)", origin, client_address(connection))
            return self._plain(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        if "websocket" in headers.get("Upgrade", "").lower():
            if self._cookie is not None and self._has_cookie(headers):
                self.preauthorized.add(connection)
            return None
        if request.method not in ("GET", "HEAD"):
            response = self._plain(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD\n")
            response.headers["Allow"] = "GET, HEAD"
            return response
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        try:
            response = await self._route(connection, request, path, query)
        except _Unauthorized:
            delay = self.auth_failed(client_address(connection))
            await asyncio.sleep(delay)
            return self._plain(
                HTTPStatus.UNAUTHORIZED,
                "this server needs its token: open /?token=… once in this browser\n",
            )
        if request.method == "HEAD":
            response.body = b""
        return response

    async def _route(
        self, connection: ServerConnection, request: Request, path: str, query: dict[str, str]
    ) -> Response:
        headers = request.headers
        if path == "/":
            return self._page(headers, query)
        if path.startswith("/static/"):
            self._check_session(headers)
            return self._static_file(path.removeprefix("/static/"), headers)
        match = _TRACK_PATH.match(path)
        if match is None:
            return self._plain(HTTPStatus.NOT_FOUND, "not found\n")
        track_id = unquote(match.group(1))
        track = self.tracks.get(track_id)
        if not (self.signer.verify(track_id, query, _now()) or self._session_ok(headers)):
            raise _Unauthorized
        if track is None:
            return self._plain(HTTPStatus.NOT_FOUND, "no such track\n")
        if match.group(2) == "art":
            return await self._art_response(track_id, headers)
        return await self._audio(connection, request, track)

    # -- authentication beyond loopback

    def _has_cookie(self, headers: Headers) -> bool:
        assert self._cookie is not None
        for raw in headers.get_all("Cookie"):
            try:
                jar = SimpleCookie(raw)
            except CookieError:
                continue
            morsel = jar.get(COOKIE)
            if morsel is not None and hmac.compare_digest(morsel.value.encode(), self._cookie.encode()):
                return True
        return False

    def _session_ok(self, headers: Headers) -> bool:
        """No token needed, or the request carries the cookie or ``Authorization: Bearer TOKEN``."""
        token = self.settings.token
        if token is None:
            return True
        auth = headers.get("Authorization", "")
        if auth.lower().startswith("bearer ") and hmac.compare_digest(
            auth[7:].strip().encode(), token.encode()
        ):
            return True
        return self._has_cookie(headers)

    def _check_session(self, headers: Headers) -> None:
        if not self._session_ok(headers):
            raise _Unauthorized

    # -- the page and its files

    def _page(self, headers: Headers, query: dict[str, str]) -> Response:
        token = self.settings.token
        given = query.get("token")
        if token is not None and given is not None:
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise _Unauthorized
            # trade the token in the URL for a cookie, and drop it from the address bar
            response = self._plain(HTTPStatus.SEE_OTHER, "")
            response.headers["Location"] = "/"
            response.headers["Set-Cookie"] = (
                f"{COOKIE}={self._cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000"
            )
            return response
        self._check_session(headers)
        return self._static_file("index.html", headers)

    def _static_file(self, name: str, headers: Headers) -> Response:
        path = self._static.get(name) if _STATIC_NAME.match(name) else None
        if path is None:
            return self._plain(HTTPStatus.NOT_FOUND, "not found\n")
        try:
            data = path.read_bytes()
            stat = path.stat()
        except OSError:
            return self._plain(HTTPStatus.NOT_FOUND, "not found\n")
        etag, last_modified = validators(stat.st_size, stat.st_mtime_ns)
        if not_modified(headers, etag, stat.st_mtime_ns):
            return self._response(HTTPStatus.NOT_MODIFIED, {"ETag": etag}, b"")
        return self._response(
            HTTPStatus.OK,
            {
                "Content-Type": _STATIC_TYPES[path.suffix],
                "ETag": etag,
                "Last-Modified": last_modified,
                "Cache-Control": "no-cache",
            },
            data,
        )

    # -- art

    async def _art_response(self, track_id: str, headers: Headers) -> Response:
        art = await asyncio.to_thread(self._art_of, track_id)
        if art is None:
            return self._plain(HTTPStatus.NOT_FOUND, "this track has no cover art\n")
        etag = f'"art-{hashlib.sha256(art.data).hexdigest()[:16]}"'
        if not_modified(headers, etag, None):  # art has no date of its own: only If-None-Match
            return self._response(HTTPStatus.NOT_MODIFIED, {"ETag": etag}, b"")
        return self._response(
            HTTPStatus.OK,
            {"Content-Type": art.media_type, "ETag": etag, "Cache-Control": "private, max-age=3600"},
            art.data,
        )

    # -- audio

    async def _audio(self, connection: ServerConnection, request: Request, track: Track) -> Response:
        try:
            stat = await asyncio.to_thread(os.stat, track.path)
        except OSError:
            logger.warning("track %s: its file %s is gone", track.id, track.path)
            return self._plain(HTTPStatus.NOT_FOUND, "the track's file is gone; rescan the library\n")
        kind = media_type(track.path)
        if kind is None:
            return await self._transcoded(connection, request, track)
        headers = request.headers
        size = stat.st_size
        etag, last_modified = validators(size, stat.st_mtime_ns)
        common = {
            "Content-Type": kind,
            "Accept-Ranges": "bytes",
            "ETag": etag,
            "Last-Modified": last_modified,
            "Cache-Control": "private, max-age=3600",
        }
        if not_modified(headers, etag, stat.st_mtime_ns):
            return self._response(
                HTTPStatus.NOT_MODIFIED, {"ETag": etag, "Last-Modified": last_modified}, b""
            )
        wanted = (
            parse_range(headers.get("Range"), size) if if_range_holds(headers, etag, last_modified) else None
        )
        if wanted is False:
            return self._response(
                HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                {**common, "Content-Range": f"bytes */{size}"},
                b"",
            )
        if isinstance(wanted, bool) or wanted is None:
            status, start, length, extra = HTTPStatus.OK, 0, size, {}
        else:
            status, start, length = HTTPStatus.PARTIAL_CONTENT, wanted.start, wanted.length
            extra = {"Content-Range": wanted.content_range(size)}
        if request.method == "HEAD":
            return self._response(status, {**common, **extra, "Content-Length": str(length)}, b"")
        if len(self._streams) >= self.settings.max_http_streams:
            return self._busy("too many audio streams")

        async def body(transport: asyncio.Transport) -> None:
            loop = asyncio.get_running_loop()
            with open(track.path, "rb") as file:
                sent = 0
                while sent < length:
                    count = min(_CHUNK, length - sent)
                    async with asyncio.timeout(self.settings.send_timeout_s):
                        done = await loop.sendfile(transport, file, start + sent, count)
                    if done <= 0:
                        raise ConnectionError("the file ended early")
                    sent += done

        head = _head(status, {**common, **extra, "Content-Length": str(length)})
        return await self._stream(connection, head, body)

    async def _transcoded(self, connection: ServerConnection, request: Request, track: Track) -> Response:
        common = {"Content-Type": TRANSCODED_TYPE, "Accept-Ranges": "none", "Cache-Control": "no-store"}
        if self._ffmpeg is None:
            return self._plain(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "this track needs transcoding and ffmpeg is not installed on the server\n",
            )
        if request.method == "HEAD":
            return self._response(HTTPStatus.OK, common, b"")
        if (
            self._transcodes >= self.settings.max_transcodes
            or len(self._streams) >= self.settings.max_http_streams
        ):
            return self._busy("too many tracks are being transcoded")
        ffmpeg = self._ffmpeg

        async def body(transport: asyncio.Transport) -> None:
            process = await asyncio.create_subprocess_exec(
                *transcode_command(ffmpeg, track.path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            assert process.stdout is not None and process.stderr is not None
            with contextlib.suppress(OSError):  # below the server: the sessions' acks come first
                os.setpriority(os.PRIO_PROCESS, process.pid, _TRANSCODE_NICENESS)
            try:
                while chunk := await process.stdout.read(64 * 1024):
                    transport.write(chunk)
                    async with asyncio.timeout(self.settings.send_timeout_s):
                        await connection.drain()
                if await process.wait() != 0:
                    error = (await process.stderr.read()).decode(errors="replace").strip()
                    logger.warning("transcoding %s failed: %s", track.path, error[-500:])
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()

        self._transcodes += 1
        try:
            return await self._stream(connection, _head(HTTPStatus.OK, common), body)
        finally:
            self._transcodes -= 1

    async def _stream(
        self,
        connection: ServerConnection,
        head: bytes,
        body: Callable[[asyncio.Transport], Awaitable[None]],
    ) -> Response:
        """Write ``head`` and ``body`` on the connection's transport, then close it. The returned
        response is never sent: ``websockets`` sends nothing on a closed connection."""
        transport = connection.transport
        self._streams.add(transport)
        try:
            transport.write(head)
            await body(transport)
            async with asyncio.timeout(self.settings.send_timeout_s):
                await connection.drain()
        except TimeoutError:
            logger.info("an HTTP client of %s stopped reading; dropping it", client_address(connection))
            transport.abort()
        except (ConnectionError, OSError, RuntimeError):
            transport.abort()  # the client went away mid-stream
        finally:
            self._streams.discard(transport)
            if not transport.is_closing():
                transport.close()
        try:
            async with asyncio.timeout(self.settings.send_timeout_s):
                await asyncio.shield(connection.connection_lost_waiter)
        except TimeoutError:
            transport.abort()
        return self._plain(HTTPStatus.OK, "")

    def close(self) -> None:
        """Drop the audio streams still running (the server is stopping)."""
        for transport in list(self._streams):
            transport.abort()

    # -- answers

    def _busy(self, why: str) -> Response:
        response = self._plain(HTTPStatus.SERVICE_UNAVAILABLE, f"{why}; try again shortly\n")
        response.headers["Retry-After"] = "2"
        return response

    def _plain(self, status: HTTPStatus, text: str) -> Response:
        return self._response(status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode())

    def _response(self, status: HTTPStatus, fields: Mapping[str, str], body: bytes) -> Response:
        headers = Headers(_security_headers(_REQUEST_HOST.get()))
        for name, value in fields.items():
            headers[name] = value
        if "Content-Length" not in headers:
            headers["Content-Length"] = str(len(body))
        headers["Connection"] = "close"
        return Response(status.value, status.phrase, headers, body)


def _security_headers(host: str) -> dict[str, str]:
    return {
        "Date": formatdate(usegmt=True),
        "Content-Security-Policy": csp(host),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
    }


def _head(status: HTTPStatus, fields: Mapping[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status.value} {status.phrase}", "Server: cadence"]
    lines += [f"{k}: {v}" for k, v in {**_security_headers(_REQUEST_HOST.get()), **fields}.items()]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def client_address(connection: ServerConnection) -> str:
    """The client's IP address (a path for a Unix socket, "unknown" if the transport has none)."""
    peer = connection.remote_address
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer) if peer else "unknown"


def _now() -> float:
    return time.time()
