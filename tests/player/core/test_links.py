"""Links from a queue to a track's audio and art: signed with a token, paths only for loopback."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from player.core.links import LinkSigner, cookie_value, with_links
from player.core.protocol import Queue, QueuedTrack

NOW = 1_800_000_000.0


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _queue() -> Queue:
    tracks = tuple(
        QueuedTrack(f"t{i}", "T", "A", f"/music/t{i}.flac", 30.0, 0.5, 0.5, 100.0, 1.0, "why")
        for i in range(3)
    )
    return Queue(tracks, 0.5, 0.5, "start")


def test_without_a_token_urls_are_plain_and_always_valid() -> None:
    signer = LinkSigner.for_token(None, 60.0)
    assert signer.url("abc", "audio", NOW) == "/tracks/abc/audio"
    assert signer.verify("abc", {}, NOW)


def test_a_signed_url_is_valid_for_its_track_until_it_expires() -> None:
    signer = LinkSigner.for_token("s3cret", 60.0)
    url = signer.url("abc", "audio", NOW)
    assert url.startswith("/tracks/abc/audio?exp=")
    query = _query(url)
    assert signer.verify("abc", query, NOW)
    assert signer.verify("abc", query, NOW + 59)
    assert not signer.verify("abc", query, NOW + 61), "expired"
    assert not signer.verify("abd", query, NOW), "another track"
    assert not signer.verify("abc", {**query, "exp": str(int(query["exp"]) + 3600)}, NOW), "extended"
    assert not signer.verify("abc", {**query, "sig": query["sig"][:-1] + "A"}, NOW), "tampered"
    assert not signer.verify("abc", {"exp": "x", "sig": query["sig"]}, NOW)
    assert not signer.verify("abc", {}, NOW)
    assert not LinkSigner.for_token("other", 60.0).verify("abc", query, NOW), "another server's token"
    assert "s3cret" not in url


def test_ids_are_quoted_in_the_path() -> None:
    assert LinkSigner.for_token(None, 1.0).url("a/../b c", "art", NOW) == "/tracks/a%2F..%2Fb%20c/art"


def test_cookie_is_derived_from_the_token_not_the_token() -> None:
    assert cookie_value("s3cret") == cookie_value("s3cret")
    assert cookie_value("s3cret") != cookie_value("s3cres")
    assert "s3cret" not in cookie_value("s3cret")


def test_with_links_reveals_paths_only_to_loopback_and_art_only_where_there_is_some() -> None:
    signer = LinkSigner.for_token("s3cret", 60.0)
    remote = with_links(_queue(), signer, NOW, has_art=lambda tid: tid == "t1", reveal_paths=False)
    local = with_links(_queue(), signer, NOW, has_art=lambda tid: False, reveal_paths=True)
    for track in remote.tracks:
        data = track.to_dict()
        assert "path" not in data
        assert signer.verify(track.id, _query(data["audio_url"]), NOW)
        assert ("art_url" in data) == (track.id == "t1")
    assert [t.to_dict()["path"] for t in local.tracks] == [
        "/music/t0.flac",
        "/music/t1.flac",
        "/music/t2.flac",
    ]
    assert all(t.art_url is None for t in local.tracks)


def test_http_url_of_a_websocket_url() -> None:
    from player.core.links import http_url

    assert http_url("ws://127.0.0.1:8765") == "http://127.0.0.1:8765"
    assert http_url("wss://[::1]:9/") == "https://[::1]:9"
    assert http_url("http://h:1/") == "http://h:1"
