"""A track's bytes for HTTP: byte ranges, validators, media types and cover art (pure or on tmp files)."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import given
from hypothesis import strategies as st
from mutagen.flac import FLAC, Picture

from player.server.media import (
    ByteRange,
    cover_art,
    if_range_holds,
    media_type,
    not_modified,
    parse_range,
    transcode_command,
    validators,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 1000, None),
        ("bytes=0-99", 1000, ByteRange(0, 99)),
        ("bytes=100-", 1000, ByteRange(100, 999)),
        ("bytes=-100", 1000, ByteRange(900, 999)),
        ("bytes=-5000", 1000, ByteRange(0, 999)),
        ("bytes=900-5000", 1000, ByteRange(900, 999)),
        ("bytes=999-999", 1000, ByteRange(999, 999)),
        (" bytes = 5 - 9 ", 1000, ByteRange(5, 9)),
        ("bytes=1000-", 1000, False),
        ("bytes=5000-6000", 1000, False),
        ("bytes=-0", 1000, False),
        ("bytes=0-", 0, False),
        ("bytes=9-5", 1000, None),
        ("bytes=0-1,5-9", 1000, None),
        ("items=0-9", 1000, None),
        ("bytes=abc", 1000, None),
        ("bytes=-", 1000, None),
        ("bytes=", 1000, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: ByteRange | bool | None) -> None:
    assert parse_range(header, size) == expected


@given(st.integers(1, 10_000), st.data())
def test_any_satisfiable_range_covers_exactly_the_bytes_asked(size: int, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start, size + 50))
    got = parse_range(f"bytes={start}-{end}", size)
    assert isinstance(got, ByteRange)
    payload = bytes(range(256)) * (size // 256 + 1)
    assert payload[got.start : got.end + 1] == payload[start : min(end, size - 1) + 1]
    assert got.content_range(size) == f"bytes {start}-{min(end, size - 1)}/{size}"


def test_validators_and_conditionals() -> None:
    etag, last_modified = validators(1234, 1_700_000_000_123_456_789)
    assert etag == validators(1234, 1_700_000_000_123_456_789)[0]
    assert etag != validators(1235, 1_700_000_000_123_456_789)[0]
    assert last_modified.endswith("GMT")
    assert not_modified({"If-None-Match": etag}, etag, 0)
    assert not_modified({"If-None-Match": f'"x", W/{etag}'}, etag, 0)
    assert not not_modified({"If-None-Match": '"other"'}, etag, 1_700_000_000_000_000_000)
    assert not_modified({"If-Modified-Since": last_modified}, etag, 1_700_000_000_123_456_789)
    assert not not_modified(
        {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}, etag, 1_700_000_000_000_000_000
    )
    assert not not_modified({"If-Modified-Since": "garbage"}, etag, 0)
    assert if_range_holds({}, etag, last_modified)
    assert if_range_holds({"If-Range": etag}, etag, last_modified)
    assert not if_range_holds({"If-Range": '"stale"'}, etag, last_modified)
    assert if_range_holds({"If-Range": last_modified}, etag, last_modified)


def test_media_types_send_what_browsers_play_and_transcode_the_rest() -> None:
    assert media_type("/m/a.MP3") == "audio/mpeg"
    assert media_type("/m/a.flac") == "audio/flac"
    assert media_type("/m/a.ogg") == "audio/ogg"
    for other in ("a.aiff", "a.aif", "a.au", "a.caf", "a.w64", "a.wma", "a.wv", "a.mp2", "a.mka"):
        assert media_type(other) is None, other


def _flac(path: Path) -> Path:
    soundfile.write(path, np.zeros((4410, 1), np.float32), 44100)
    return path


def test_cover_art_embedded_then_folder_then_none(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    embedded = _flac(tmp_path / "a" / "x.flac")
    picture = Picture()
    picture.type = 3
    picture.mime = "image/png"
    picture.data = PNG
    tags = FLAC(embedded)
    tags.add_picture(picture)
    tags.save()
    art = cover_art(str(embedded))
    assert art is not None and (art.data, art.media_type) == (PNG, "image/png")

    (tmp_path / "b").mkdir()
    plain = _flac(tmp_path / "b" / "y.flac")
    assert cover_art(str(plain)) is None
    (tmp_path / "b" / "Cover.JPG").write_bytes(b"\xff\xd8\xff" + b"\x00" * 32)
    art = cover_art(str(plain))
    assert art is not None and art.media_type == "image/jpeg"

    assert cover_art(str(tmp_path / "gone.flac")) is None


@pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (scripts/install.sh installs it)"
)
@pytest.mark.parametrize(
    ("suffix", "codec"), [(".wma", "wmav2"), (".mka", "libvorbis"), (".aiff", "pcm_s16be")]
)
def test_a_transcode_decodes_to_its_end_with_soundfile(tmp_path: Path, suffix: str, codec: str) -> None:
    """The Ogg Opus the server makes of a lossy source is read to its end by libsndfile, as the desktop
    client reads it: from WMA and Matroska/Vorbis it stopped after 1.9 s and 5 s ("malformed") until
    the transcode made its timestamps continuous."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    music = Path("/usr/share/games/etr/music/race1-jt.ogg")  # Debian's extremetuxracer-data
    source = tmp_path / f"track{suffix}"
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-t", "12", "-i", str(music), "-c:a", codec, str(source)],
        check=True,
    )
    opus = subprocess.run(transcode_command(ffmpeg, str(source)), check=True, capture_output=True).stdout
    with soundfile.SoundFile(io.BytesIO(opus)) as f:
        frames = sum(len(block) for block in f.blocks(blocksize=4800, dtype="float32"))
    assert frames / 48000 == pytest.approx(12.0, abs=0.1)
