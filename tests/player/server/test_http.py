"""Plain HTTP on the server's port, against a real server on loopback with real files and real sockets.

The session engines are the small fakes of tests/support/fakes.py (the HTTP layer serves files by
track id; what the ranker thinks of them does not matter here); the files, the server, ffmpeg and
the sockets are real.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np
import pytest
import soundfile
from mutagen.flac import FLAC, Picture
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from player.client import CadenceClient, ServerError
from player.core.links import LinkSigner
from player.core.session import SessionDeps
from player.core.track import Track
from player.server.http import COOKIE
from player.server.shell import running_server
from player.settings import Settings
from tests.support.fakes import FakeMood, FakeRecommender, make_track
from tests.support.http import Reply, lan_address, request

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
TOKEN = "s3cret-token"


class _NoSpeech:
    """These tests send no audio; an analyzer that is asked anything fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the speech analyzer was used ({name})")


def _noise(seconds: float, rate: int = 44100, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220.0 * t)[:, None]
    return (tone + 0.05 * rng.standard_normal((len(t), channels))).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("music")
    (root / "art").mkdir()
    (root / "folder").mkdir()
    paths = {
        "flac": root / "art" / "with art.flac",
        "aiff": root / "plain" / "old.aiff",
        "ogg": root / "folder" / "song.ogg",
        "big": root / "plain" / "big.wav",
    }
    paths["aiff"].parent.mkdir()
    soundfile.write(paths["flac"], _noise(12.0), 44100)
    picture = Picture()
    picture.type, picture.mime, picture.data = 3, "image/png", PNG
    tags = FLAC(paths["flac"])
    tags.add_picture(picture)
    tags.save()
    soundfile.write(paths["aiff"], _noise(4.0, channels=1, seed=1), 44100, format="AIFF")
    soundfile.write(paths["ogg"], _noise(3.0, seed=2), 44100, format="OGG")
    (root / "folder" / "cover.png").write_bytes(PNG[::-1])
    soundfile.write(paths["big"], _noise(90.0, seed=3), 44100, subtype="PCM_16")  # ~16 MB
    return paths


def _tracks(files: dict[str, Path]) -> list[Track]:
    return [
        replace(make_track(name, energy=0.2 + 0.2 * i, duration_s=10.0), path=str(path))
        for i, (name, path) in enumerate(files.items())
    ]


@asynccontextmanager
async def http_server(
    tmp_path: Path, files: dict[str, Path], **settings: Any
) -> AsyncIterator[tuple[str, Settings]]:
    tracks = _tracks(files)
    deps = SessionDeps(mood=FakeMood(), recommender=FakeRecommender(tracks), tracks={t.id: t for t in tracks})
    config = replace(Settings(home=tmp_path), port=0, **settings)
    async with running_server(config, deps=deps, analyzer=_NoSpeech()) as url:  # type: ignore[arg-type]
        yield url, config


async def _queue(url: str, token: str | None = None) -> dict[str, dict[str, Any]]:
    """The tracks of a session's first queue, by id."""
    client = await CadenceClient.connect(url, token=token)
    try:
        queue = await client.start_session(local_time="2026-05-04T07:30:00+02:00")
    finally:
        await client.close()
    return {t["id"]: t for t in queue["tracks"]}


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=180))


def test_audio_is_served_byte_for_byte_with_ranges_validators_and_head(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    data = files["flac"].read_bytes()
    size = len(data)

    async def scenario() -> None:
        async with http_server(tmp_path, files) as (url, _):
            tracks = await _queue(url)
            assert set(tracks) == {"flac", "aiff", "ogg", "big"}
            flac = tracks["flac"]
            assert flac["path"] == str(files["flac"]), "a loopback client is told the path"
            audio = flac["audio_url"]

            whole = await request(url, audio)
            assert whole.status == 200
            assert whole.body == data
            assert whole.headers["content-type"] == "audio/flac"
            assert whole.headers["accept-ranges"] == "bytes"
            assert int(whole.headers["content-length"]) == size
            etag, last_modified = whole.headers["etag"], whole.headers["last-modified"]

            for header, start, end in [
                ("bytes=0-0", 0, 0),
                ("bytes=100-1099", 100, 1099),
                (f"bytes={size - 10}-", size - 10, size - 1),
                ("bytes=-777", size - 777, size - 1),
                (f"bytes=5000-{size * 2}", 5000, size - 1),
                (f"bytes={size // 2}-{size // 2 + 65535}", size // 2, size // 2 + 65535),
            ]:
                part = await request(url, audio, headers={"Range": header})
                assert part.status == 206, header
                assert part.headers["content-range"] == f"bytes {start}-{end}/{size}", header
                assert int(part.headers["content-length"]) == end - start + 1
                assert part.body == data[start : end + 1], header

            beyond = await request(url, audio, headers={"Range": f"bytes={size}-"})
            assert (beyond.status, beyond.headers["content-range"]) == (416, f"bytes */{size}")
            several = await request(url, audio, headers={"Range": "bytes=0-1,10-20"})
            assert (several.status, several.body) == (200, data), "several ranges are answered whole"
            stale = await request(url, audio, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
            assert (stale.status, stale.body) == (200, data), "If-Range of another version: the whole file"
            fresh = await request(url, audio, headers={"Range": "bytes=0-9", "If-Range": etag})
            assert (fresh.status, fresh.body) == (206, data[:10])

            head = await request(url, audio, method="HEAD")
            assert (head.status, head.body, head.headers["content-length"]) == (200, b"", str(size))
            assert head.headers["etag"] == etag
            head_part = await request(url, audio, method="HEAD", headers={"Range": "bytes=10-19"})
            assert (head_part.status, head_part.body, head_part.headers["content-length"]) == (206, b"", "10")

            cached = await request(url, audio, headers={"If-None-Match": etag})
            assert (cached.status, cached.body) == (304, b"")
            cached = await request(url, audio, headers={"If-Modified-Since": last_modified})
            assert cached.status == 304

    run(scenario())


def test_unknown_ids_and_traversal_attempts_are_404(tmp_path: Path, files: dict[str, Path]) -> None:
    async def scenario() -> None:
        async with http_server(tmp_path, files) as (url, _):
            for target in [
                "/tracks/nope/audio",
                "/tracks/nope/art",
                "/tracks/flac/lyrics",
                "/tracks/../../etc/passwd/audio",
                "/tracks/..%2F..%2F..%2Fetc%2Fpasswd/audio",
                "/tracks/%2Fetc%2Fpasswd/audio",
                "/tracks/flac/../../../etc/passwd",
                f"/tracks/{quote(str(files['flac']), safe='')}/audio",
                f"/tracks/{quote(str(files['flac']))}/audio",
                "/static/../server/http.py",
                "/static/..%2Fserver%2Fhttp.py",
                "/static/%2e%2e/__init__.py",
                "/static/__init__.py",
                "/static/.hidden",
                "/static/",
                "/etc/passwd",
                "/favicon.ico",
                "//etc/passwd",
            ]:
                reply = await request(url, target)
                assert reply.status == 404, (target, reply.status, reply.body[:100])
                assert b"root:" not in reply.body
            post = await request(url, "/", method="POST", headers={"Content-Length": "0"})
            assert (post.status, post.headers["allow"]) == (405, "GET, HEAD")

    run(scenario())


def test_cover_art_embedded_or_from_the_folder_else_404(tmp_path: Path, files: dict[str, Path]) -> None:
    async def scenario() -> None:
        async with http_server(tmp_path, files) as (url, _):
            tracks = await _queue(url)
            assert "art_url" not in tracks["aiff"] and "art_url" not in tracks["big"]
            embedded = await request(url, tracks["flac"]["art_url"])
            assert (embedded.status, embedded.headers["content-type"], embedded.body) == (
                200,
                "image/png",
                PNG,
            )
            folder = await request(url, tracks["ogg"]["art_url"])
            assert (folder.status, folder.body) == (200, PNG[::-1])
            none = await request(url, "/tracks/aiff/art")
            assert none.status == 404

    run(scenario())


def test_a_format_chromium_cannot_play_is_transcoded_to_ogg_opus(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    async def scenario() -> tuple[Reply, Reply]:
        async with http_server(tmp_path, files) as (url, _):
            tracks = await _queue(url)
            audio = tracks["aiff"]["audio_url"]
            return await request(url, audio), await request(url, audio, method="HEAD")

    reply, head = run(scenario())
    assert reply.status == 200, reply.body[:200]
    assert reply.headers["content-type"] == "audio/ogg; codecs=opus"
    assert reply.headers["accept-ranges"] == "none"
    assert "content-length" not in reply.headers, "streamed as it is produced, ended by the close"
    assert reply.body[:4] == b"OggS" and b"OpusHead" in reply.body[:200]
    decoded, rate = soundfile.read(io.BytesIO(reply.body), dtype="float32")
    assert rate == 48000
    assert len(decoded) / rate == pytest.approx(4.0, abs=0.1), "the whole track, transcoded"
    assert (head.status, head.body, head.headers["content-type"]) == (200, b"", "audio/ogg; codecs=opus")


def test_page_has_a_strict_content_security_policy(tmp_path: Path, files: dict[str, Path]) -> None:
    async def scenario() -> tuple[Reply, Reply, Reply]:
        async with http_server(tmp_path, files) as (url, _):
            return (
                await request(url, "/"),
                await request(url, "/static/app.js"),
                await request(url, "/static/nope.js"),
            )

    page, script, missing = run(scenario())
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert b'src="/static/app.js"' in page.body
    policy = {d.strip().split(" ")[0]: d.strip() for d in page.headers["content-security-policy"].split(";")}
    assert policy["default-src"] == "default-src 'none'"
    assert policy["script-src"] == "script-src 'self'"
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert (script.status, script.headers["content-type"]) == (200, "text/javascript; charset=utf-8")
    assert missing.status == 404


def test_host_and_origin_are_checked_for_http_and_websocket_alike(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    upgrade = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }

    async def scenario() -> None:
        async with http_server(tmp_path, files, allowed_origins=("https://player.example",)) as (url, _):
            host = urlsplit(url).netloc
            # DNS rebinding: a page of evil.example resolved to 127.0.0.1 names its own host
            for headers in (
                {"Host": "evil.example"},
                {"Host": f"evil.example:{urlsplit(url).port}", **upgrade},
            ):
                assert (await request(url, "/", headers=headers)).status == 403
            # a page of another site
            assert (await request(url, "/", headers={"Origin": "https://evil.example"})).status == 403
            assert (
                await request(url, "/", headers={"Origin": "https://evil.example", **upgrade})
            ).status == 403
            with pytest.raises(InvalidStatus) as refused:
                await CadenceClient.connect(url, origin="https://evil.example")
            assert refused.value.response.status_code == 403
            # the server's own page, a listed origin, and no browser at all
            for origin in (f"http://{host}", "https://player.example", None):
                client = await CadenceClient.connect(url, origin=origin)
                await client.close()
            assert (await request(url, "/", headers={"Origin": f"http://{host}"})).status == 200
            assert (
                await request(url, "/", headers={"Host": f"localhost:{urlsplit(url).port}"})
            ).status == 200

    run(scenario())


def test_a_token_guards_every_request_and_signed_urls_need_no_headers(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    async def scenario() -> None:
        async with http_server(tmp_path, files, token=TOKEN, auth_backoff_s=0.01) as (url, _):
            for target in ("/", "/static/app.js", "/tracks/flac/audio", "/tracks/flac/art"):
                refused = await request(url, target)
                assert refused.status == 401, target
                assert f"ws://{urlsplit(url).netloc}" in refused.headers["content-security-policy"]
            with pytest.raises(ServerError) as unauthorized:
                await CadenceClient.connect(url)
            assert unauthorized.value.code == "unauthorized"

            tracks = await _queue(url, token=TOKEN)
            audio = tracks["flac"]["audio_url"]
            assert "exp=" in audio and "sig=" in audio and TOKEN not in audio
            assert (await request(url, audio)).body == files["flac"].read_bytes()
            assert (await request(url, tracks["flac"]["art_url"])).body == PNG
            query = audio.partition("?")[2]
            tampered = audio[:-1] + ("A" if audio[-1] != "A" else "B")
            assert (await request(url, tampered)).status == 401, "tampered"
            assert (await request(url, "/tracks/ogg/audio?" + query)).status == 401, (
                "another track's signature"
            )
            expired = LinkSigner.for_token(TOKEN, -60.0).url("flac", "audio", time.time())
            assert (await request(url, expired)).status == 401, "expired"
            bearer = await request(url, "/tracks/flac/audio", headers={"Authorization": f"Bearer {TOKEN}"})
            assert bearer.status == 200

            assert (await request(url, "/?token=wrong")).status == 401
            login = await request(url, f"/?token={TOKEN}")
            assert (login.status, login.headers["location"]) == (303, "/")
            cookie = login.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
            jar = {"Cookie": cookie.split(";")[0]}
            assert cookie.split(";")[0].startswith(f"{COOKIE}=")
            assert (await request(url, "/", headers=jar)).status == 200
            assert (await request(url, "/static/app.js", headers=jar)).status == 200
            assert (await request(url, "/tracks/flac/audio", headers=jar)).status == 200

            # the page's websocket carries the cookie: its hello needs no token
            async with ws_connect(url, additional_headers=jar) as ws:
                await ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "page"}))
                assert json.loads(await ws.recv())["type"] == "welcome"

    run(scenario())


def test_a_remote_client_never_learns_where_files_live(tmp_path: Path, files: dict[str, Path]) -> None:
    address = lan_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")

    async def scenario() -> None:
        async with http_server(tmp_path, files, host=address, token=TOKEN) as (url, _):
            assert urlsplit(url).hostname == address
            client = await CadenceClient.connect(url, token=TOKEN)
            try:
                await client.start_session(local_time="2026-05-04T07:30:00+02:00")
                raw = [m for m in client.history if m["type"] == "queue"]
            finally:
                await client.close()
            text = json.dumps(raw)
            assert str(files["flac"].parent) not in text and '"path"' not in text
            track = raw[0]["tracks"][0]
            fetched = await request(url, track["audio_url"])
            assert fetched.status == 200
            assert fetched.body == Path(files[track["id"]]).read_bytes() or track["id"] == "aiff"

    run(scenario())


def test_a_client_that_stops_reading_audio_stalls_nobody_and_is_dropped(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    big = files["big"].stat().st_size

    async def scenario() -> tuple[int, bytes]:
        async with http_server(tmp_path, files, send_timeout_s=2.0) as (url, _):
            host, port = urlsplit(url).hostname, urlsplit(url).port
            stalled = socket.socket()
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stalled.connect((host, port))
            stalled.sendall(f"GET /tracks/big/audio HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            try:
                # meanwhile: other listeners stream and play
                others = await asyncio.gather(
                    *(request(url, "/tracks/flac/audio") for _ in range(3)),
                    request(url, "/tracks/big/audio"),
                )
                assert all(r.status == 200 for r in others)
                assert len(others[-1].body) == big
                client = await CadenceClient.connect(url)
                await client.start_session(local_time="2026-05-04T07:30:00+02:00")
                await client.playback("started", "flac", 0.0)
                ack = await client.wait_for("ack", timeout=30)
                await client.close()
                # the stalled reader is cut off once its send deadline passes
                await asyncio.sleep(4.0)
                stalled.setblocking(False)
                received = b""
                loop = asyncio.get_running_loop()
                while True:
                    try:
                        chunk = await asyncio.wait_for(loop.sock_recv(stalled, 65536), 10)
                    except (ConnectionResetError, TimeoutError):
                        break
                    if not chunk:
                        break
                    received += chunk
                return len(received), json.dumps(ack).encode()
            finally:
                stalled.close()

    received, ack = run(scenario())
    assert b'"playback"' in ack
    assert received < big, "the stalled reader was dropped before it got the whole file"


def test_tls_serves_wss_and_https_on_one_port(tmp_path: Path, files: dict[str, Path]) -> None:
    """With --tls-cert/--tls-key (a phone's browser opens the microphone only on https): the page,
    ranged audio and the websocket all over TLS, with a certificate the client checks."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = ssl.create_default_context(cafile=str(cert))
    data = files["flac"].read_bytes()

    async def scenario() -> None:
        async with http_server(tmp_path, files, tls_cert=cert, tls_key=key) as (url, _):
            assert url.startswith("wss://")
            page = await request(url, "/", tls=tls)
            assert page.status == 200 and b"/static/app.js" in page.body
            async with ws_connect(url, ssl=tls, origin=f"https://{urlsplit(url).netloc}") as ws:  # type: ignore[arg-type]
                await ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "tls"}))
                assert json.loads(await ws.recv())["type"] == "welcome"
                await ws.send(
                    json.dumps({"type": "session.start", "local_time": "2026-05-04T07:30:00+02:00"})
                )
                queue = json.loads(await ws.recv())
            audio = next(t["audio_url"] for t in queue["tracks"] if t["id"] == "flac")
            part = await request(url, audio, headers={"Range": "bytes=1000-200999"}, tls=tls)
            assert (part.status, part.body) == (206, data[1000:201000])
            whole = await request(url, audio, tls=tls)
            assert whole.body == data
            with pytest.raises(ssl.SSLError):
                await request(url, "/", tls=ssl.create_default_context())  # an unknown certificate

    run(scenario())


def test_art_revalidates_limits_answer_503_and_a_silent_connection_is_dropped(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    async def scenario() -> None:
        async with http_server(
            tmp_path, files, max_transcodes=0, max_http_streams=1, hello_timeout_s=1.0
        ) as (url, _):
            art = await request(url, "/tracks/flac/art")
            again = await request(url, "/tracks/flac/art", headers={"If-None-Match": art.headers["etag"]})
            assert (again.status, again.body) == (304, b"")
            dated = await request(url, "/tracks/flac/art", headers={"If-Modified-Since": art.headers["date"]})
            assert dated.status == 200, "art has no date: If-Modified-Since alone never answers 304"

            busy = await request(url, "/tracks/aiff/audio")
            assert (busy.status, busy.headers["retry-after"]) == (503, "2")
            assert (await request(url, "/tracks/flac/audio")).status == 200, "one stream at a time is allowed"

            host, port = urlsplit(url).hostname, urlsplit(url).port
            for partial in (b"", b"GET / HTTP/1.1\r\nHost: x"):
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(partial)
                assert await asyncio.wait_for(reader.read(), 10) == b"", "closed without an answer"
                writer.close()

    run(scenario())


def test_tls_needs_both_files_and_readable_ones(tmp_path: Path) -> None:
    from player.errors import CadenceError
    from player.server.shell import tls_context

    assert tls_context(Settings(home=tmp_path)) is None
    for cert, key in ((tmp_path / "c.pem", None), (tmp_path / "c.pem", tmp_path / "k.pem")):
        with pytest.raises(CadenceError) as refused:
            tls_context(replace(Settings(home=tmp_path), tls_cert=cert, tls_key=key))
        assert refused.value.code == "tls"
