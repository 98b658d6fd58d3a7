"""Links from a queue to a track's audio and art, as a client on any machine can use them.

Pure: no clock (time is an argument), no disk, no socket. The server hands every ``queue`` through
:func:`with_links` before it is sent:

- each track gains ``audio_url`` (and ``art_url`` when the track has cover art), relative to the
  server (``/tracks/{id}/audio``), so a browser's ``<audio>`` or a remote desktop session can play it;
- its absolute ``path`` is kept only for a loopback client (a program on the server's own machine,
  which can open the file itself); a remote client never learns where files live;
- when the server has a token, each URL carries a short-lived signature (``exp``, ``sig``): an
  ``<audio>`` element cannot send headers, and the token itself never appears in a URL.

The signature is an HMAC-SHA256 over the track id and the expiry, keyed by a key derived from the
token; it covers both of a track's URLs. :func:`cookie_value` is what the page's cookie holds (also
derived, so a leaked cookie or URL never reveals the token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from urllib.parse import quote

from player.core.protocol import Queue

__all__ = ["LinkSigner", "cookie_value", "http_url", "with_links"]

_SIG_CHARS = 22
"""Characters of base64url signature kept (132 bits)."""


def _derive(token: str, purpose: str) -> bytes:
    return hmac.new(token.encode("utf-8"), f"cadence {purpose}".encode(), hashlib.sha256).digest()


def http_url(ws_url: str) -> str:
    """The HTTP address of the server at ``ws_url`` (same host and port): ``ws`` → ``http``,
    ``wss`` → ``https``, no trailing slash."""
    scheme, sep, rest = ws_url.partition("://")
    if sep and scheme in ("ws", "wss"):
        scheme = "http" + scheme.removeprefix("ws")
    return f"{scheme}{sep}{rest}".rstrip("/")


def cookie_value(token: str) -> str:
    """The value of the page's session cookie for a server with ``token`` (not the token itself)."""
    return base64.urlsafe_b64encode(_derive(token, "cookie")).decode("ascii").rstrip("=")


@dataclass(frozen=True, slots=True)
class LinkSigner:
    """Makes and checks the URLs of a track's audio and art.

    ``key`` None: the server has no token (loopback only) and URLs are plain.
    """

    key: bytes | None
    ttl_s: float
    """How long a signed URL stays valid (a queue may wait a while before it is played)."""

    @classmethod
    def for_token(cls, token: str | None, ttl_s: float) -> LinkSigner:
        return cls(key=_derive(token, "media") if token else None, ttl_s=ttl_s)

    def _signature(self, track_id: str, expires: int) -> str:
        assert self.key is not None
        digest = hmac.new(self.key, f"{track_id}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii")[:_SIG_CHARS]

    def url(self, track_id: str, what: str, now_s: float) -> str:
        """The URL of ``what`` ("audio" or "art") of ``track_id``, signed until ``now_s + ttl_s``."""
        path = f"/tracks/{quote(track_id, safe='')}/{what}"
        if self.key is None:
            return path
        expires = int(now_s + self.ttl_s)
        return f"{path}?exp={expires}&sig={self._signature(track_id, expires)}"

    def verify(self, track_id: str, query: Mapping[str, str], now_s: float) -> bool:
        """True if ``query`` carries an unexpired signature for ``track_id`` (always True unsigned)."""
        if self.key is None:
            return True
        try:
            expires = int(query.get("exp", ""))
        except ValueError:
            return False
        if expires < now_s:
            return False
        given = query.get("sig", "")
        return hmac.compare_digest(
            given.encode("ascii", "replace"), self._signature(track_id, expires).encode()
        )


def with_links(
    queue: Queue, signer: LinkSigner, now_s: float, *, has_art: Callable[[str], bool], reveal_paths: bool
) -> Queue:
    """``queue`` with each track's ``audio_url`` (and ``art_url`` where ``has_art(track_id)``), and
    its ``path`` only if ``reveal_paths`` (a loopback client)."""
    tracks = tuple(
        replace(
            t,
            path=t.path if reveal_paths else "",
            audio_url=signer.url(t.id, "audio", now_s),
            art_url=signer.url(t.id, "art", now_s) if has_art(t.id) else None,
        )
        for t in queue.tracks
    )
    return replace(queue, tracks=tracks)
