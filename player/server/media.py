"""A library track's bytes for HTTP: content types, byte ranges, validators, cover art, transcoding.

The decisions are pure functions (:func:`parse_range`, :func:`validators`, :func:`not_modified`,
:func:`media_type`); reading the tags for cover art (mutagen) and the transcoder's command line
(ffmpeg from Debian) are here too, so that :mod:`player.server.http` only moves bytes.

Formats a browser plays natively (MP3, Ogg Vorbis/Opus, FLAC, WAV, WebM, MP4/AAC) are sent as they
are, with ranges; the others the scanner reads (AIFF, AU, CAF, W64, WMA, WavPack, MP2, Matroska) are
transcoded on the fly to Ogg Opus and streamed.
"""

from __future__ import annotations

import base64
import logging
import re
import shutil
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any

__all__ = [
    "FOLDER_IMAGES",
    "TRANSCODED_TYPE",
    "Art",
    "ByteRange",
    "cover_art",
    "ffmpeg_path",
    "media_type",
    "not_modified",
    "parse_range",
    "transcode_command",
    "validators",
]

logger = logging.getLogger(__name__)

_NATIVE: dict[str, str] = {
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".wave": "audio/wav",
    ".webm": "audio/webm",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
}
"""Suffixes every current browser plays as they are, and their media types."""

TRANSCODED_TYPE = "audio/ogg; codecs=opus"
"""What a transcoded track is sent as."""


def media_type(path: str) -> str | None:
    """The media type to send ``path`` as, or None if it must be transcoded first."""
    return _NATIVE.get(Path(path).suffix.lower())


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` … ``end`` inclusive of a representation of ``size`` bytes."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


def parse_range(header: str | None, size: int) -> ByteRange | bool | None:
    """Read a ``Range`` header for a representation of ``size`` bytes (RFC 9110 §14.2).

    Returns the one range to send (206); None to ignore the header and send everything (200: no
    header, another unit, a malformed value, or several ranges, which a server may answer whole);
    False if the range cannot be satisfied (416).
    """
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec or "," in spec:
        return None
    match = _RANGE.match(spec)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return False
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid: ignored
    if start >= size:
        return False
    return ByteRange(start, min(end, size - 1))


def validators(size: int, mtime_ns: int) -> tuple[str, str]:
    """``(ETag, Last-Modified)`` for a file of ``size`` bytes modified at ``mtime_ns``."""
    return f'"{size:x}-{mtime_ns:x}"', formatdate(mtime_ns / 1e9, usegmt=True)


def not_modified(headers: Any, etag: str, mtime_ns: int | None) -> bool:
    """True if the request's conditional headers say the client's copy is current (304).

    ``If-None-Match`` wins over ``If-Modified-Since`` (RFC 9110 §13.2.2); ``mtime_ns`` None: the
    representation has no date, so only ``If-None-Match`` can match.
    """
    inm = headers.get("If-None-Match")
    if inm is not None:
        tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
        return "*" in tags or etag in tags
    ims = headers.get("If-Modified-Since")
    if ims is not None and mtime_ns is not None:
        try:
            since = parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError):
            return False
        return int(mtime_ns / 1e9) <= since
    return False


def if_range_holds(headers: Any, etag: str, last_modified: str) -> bool:
    """True if a ``Range`` may be honoured: no ``If-Range``, or it names the current version."""
    value = headers.get("If-Range")
    if value is None:
        return True
    value = value.strip()
    return value == etag if value.startswith('"') else value == last_modified


# ---------------------------------------------------------------- cover art

FOLDER_IMAGES = ("cover", "folder", "front", "album", "albumart")
"""Names (any case, .jpg/.jpeg/.png/.webp) of a folder's cover image, in order of preference."""

_IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
_MAX_ART_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Art:
    data: bytes
    media_type: str


def cover_art(path: str) -> Art | None:
    """The track's embedded front cover (mutagen: ID3, FLAC, MP4, Vorbis comments), else an image
    in its folder (:data:`FOLDER_IMAGES`), else None."""
    try:
        embedded = _embedded_art(path)
    except Exception:  # a damaged tag is no reason to fail: fall back to the folder
        logger.debug("could not read the tags of %s", path, exc_info=True)
        embedded = None
    return embedded or _folder_art(Path(path).parent)


def _embedded_art(path: str) -> Art | None:
    import mutagen
    from mutagen.flac import Picture

    audio = mutagen.File(path)
    if audio is None:
        return None
    pictures: list[tuple[int, bytes, str]] = []  # (picture type, data, mime)
    for picture in getattr(audio, "pictures", None) or []:  # FLAC
        pictures.append((picture.type, picture.data, picture.mime))
    tags = audio.tags
    if tags is not None:
        if hasattr(tags, "getall"):  # ID3
            for frame in tags.getall("APIC"):
                pictures.append((int(frame.type), frame.data, frame.mime))
        if "covr" in tags:  # MP4
            for cover in tags["covr"]:
                mime = "image/png" if getattr(cover, "imageformat", 0) == 14 else "image/jpeg"
                pictures.append((3, bytes(cover), mime))
        if hasattr(tags, "get") and not hasattr(tags, "getall"):  # Vorbis comments (Ogg)
            for value in tags.get("metadata_block_picture", []) or []:
                try:
                    picture = Picture(base64.b64decode(value))
                except Exception:
                    continue
                pictures.append((picture.type, picture.data, picture.mime))
    usable = [p for p in pictures if p[1] and len(p[1]) <= _MAX_ART_BYTES]
    if not usable:
        return None
    _kind, data, mime = min(usable, key=lambda p: (p[0] != 3, p[0]))  # the front cover first
    return Art(data, mime if mime.startswith("image/") else _sniff(data))


def _folder_art(folder: Path) -> Art | None:
    try:
        entries = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    except OSError:
        return None
    for stem in FOLDER_IMAGES:
        for suffix, mime in _IMAGE_TYPES.items():
            found = entries.get(stem + suffix)
            if found is not None:
                try:
                    if found.stat().st_size <= _MAX_ART_BYTES:
                        return Art(found.read_bytes(), mime)
                except OSError:
                    continue
    return None


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


# ---------------------------------------------------------------- transcoding


def ffmpeg_path() -> str | None:
    """The ffmpeg executable (Debian's ``ffmpeg`` package), or None if it is not installed."""
    return shutil.which("ffmpeg")


def transcode_command(ffmpeg: str, path: str, *, bitrate_kbps: int = 128) -> list[str]:
    """ffmpeg reading ``path`` and writing its first audio stream as Ogg Opus to stdout."""
    return [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
        "-i", path, "-map", "0:a:0", "-vn",
        # continuous timestamps from 0: a lossy source's (WMA, Vorbis in Matroska) jumps otherwise
        # become granule jumps in the Ogg stream, which libsndfile 1.2 stops at ("malformed")
        "-af", "aresample=async=1:first_pts=0",
        "-c:a", "libopus", "-b:a", f"{bitrate_kbps}k", "-ar", "48000",
        "-f", "ogg", "pipe:1",
    ]  # fmt: skip
