"""The wire protocol: parsing, the closed error-code set, and docs/protocol.md kept true to the code."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mood.types import Intent, MoodEstimate
from player.core.protocol import (
    ERROR_CODES,
    PROTOCOL_VERSION,
    SERVER_TYPES,
    Ack,
    AudioStart,
    ClientMessage,
    Control,
    Error,
    Hello,
    Mood,
    Next,
    Playback,
    Queue,
    QueuedTrack,
    ServerMessage,
    SessionStart,
    Text,
    Vad,
    Welcome,
    dumps,
    parse,
    wire_code,
)
from player.errors import ProtocolError
from tests.support.protocol_doc import DOC, check_documented, documented_examples, documented_schemas

CLIENT_TYPES = (
    "hello",
    "session.start",
    "text",
    "audio.start",
    "audio.stop",
    "playback",
    "next",
    "mixes.list",
    "mix.play",
    "session.end",
)


def test_every_message_type_is_documented_with_schema_and_example() -> None:
    """docs/protocol.md has a schema and an example for every client and server message type."""
    assert set(documented_schemas()) == set(CLIENT_TYPES) | set(SERVER_TYPES)
    assert {e["type"] for e in documented_examples()} == set(CLIENT_TYPES) | set(SERVER_TYPES)


def test_documented_examples_validate_and_client_ones_parse() -> None:
    """Each example validates against its schema; client examples parse and round-trip."""
    for example in documented_examples():
        check_documented(example)
        if example["type"] in CLIENT_TYPES:
            record = parse(json.dumps(example))
            assert parse(json.dumps(record.to_dict())) == record


def test_error_codes_are_one_documented_closed_set() -> None:
    """The error schema's enum and the doc's table list exactly ERROR_CODES."""
    enum = set(documented_schemas()["error"]["properties"]["code"]["enum"])
    assert enum == set(ERROR_CODES)
    table = set(re.findall(r"^\| `([a-z_]+)` \|", DOC.read_text(encoding="utf-8"), flags=re.M))
    assert set(ERROR_CODES) <= table


def test_server_records_serialize_to_documented_json() -> None:
    """Every server record's JSON validates against the documented schema."""
    estimate = MoodEstimate(
        0.3, 0.2, 0.7, "tired", "ugh", (Intent("calmer", 0.8, "calmer"),), {"text": {"v": 0.1}}
    )
    track = QueuedTrack(
        "id1", "T", "A", "/p.ogg", 30.0, 0.4, 0.3, 90.0, 1.2, "calm", audio_url="/tracks/id1/audio"
    )
    remote = replace(track, path="", art_url="/tracks/id1/art?exp=1&sig=x")
    records: list[ServerMessage] = [
        Welcome(PROTOCOL_VERSION, "abc"),
        Queue((remote,), 0.5, 0.5, "next"),
        Vad("speech", 0.25),
        Mood(estimate, "voice", start_s=0.1, end_s=1.5),
        Mood(estimate, "text", ref="m1"),
        Queue((track,), 0.4, 0.3, "mood", ref=3),
        Ack("playback", ref="c1"),
        Control("skip", "id1"),
        Error("busy", "full"),
    ]
    for record in records:
        check_documented(json.loads(dumps(record)))


def test_mood_message_carries_per_axis_confidences_and_down_label() -> None:
    """A `mood` sends both axis confidences (documented, required) and may carry the label "down"."""
    estimate = MoodEstimate(
        0.3, 0.5, 0.43, "down", "I'm not happy", valence_confidence=0.86, energy_confidence=0.0
    )
    message = json.loads(dumps(Mood(estimate, "text", ref="m2")))
    check_documented(message)
    assert (message["valence_confidence"], message["energy_confidence"]) == (0.86, 0.0)
    schema = documented_schemas()["mood"]
    assert {"valence_confidence", "energy_confidence"} <= set(schema["required"])
    legacy = json.loads(dumps(Mood(MoodEstimate(0.6, 0.4, 0.5), "text")))  # no per-axis values given
    assert (legacy["valence_confidence"], legacy["energy_confidence"]) == (0.5, 0.5)
    check_documented(legacy)


def test_client_records_round_trip() -> None:
    """to_dict then parse gives the same record back, for every client message."""
    records: list[ClientMessage] = [
        Hello(protocol=1, client="x", token="t", id=1),
        SessionStart(
            local_time="2026-05-01T07:30:00+02:00", device="car", listener_id="ann", queue=("a", "b")
        ),
        Text(text="hello", id="m"),
        AudioStart(sample_rate=44100, channels=2, format="f32le"),
        Playback(event="liked", track_id="t1", position_s=3.5),
        Next(count=3),
    ]
    for record in records:
        assert parse(json.dumps(record.to_dict())) == record


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_json"),
        ('"hello"', "invalid_json"),
        ('{"no_type": 1}', "unknown_type"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": 5}', "unknown_type"),
        ('{"type": "hello", "client": "x"}', "missing_field"),
        ('{"type": "hello", "protocol": "1", "client": "x"}', "bad_field"),
        ('{"type": "session.start"}', "missing_field"),
        ('{"type": "session.start", "local_time": "2026-05-01T07:30:00"}', "bad_field"),
        ('{"type": "session.start", "local_time": "yesterday"}', "bad_field"),
        ('{"type": "session.start", "local_time": "2026-05-01T07:30:00Z", "queue": "abc"}', "bad_field"),
        (
            '{"type": "session.start", "local_time": "2026-05-01T07:30:00Z", "store_transcripts": "yes"}',
            "bad_field",
        ),
        ('{"type": "text"}', "missing_field"),
        ('{"type": "text", "text": "   "}', "bad_field"),
        ('{"type": "text", "text": 42}', "bad_field"),
        ('{"type": "text", "text": "' + "x" * 2001 + '"}', "bad_field"),
        (
            '{"type": "audio.start", "sample_rate": 16000, "channels": 1, "format": "mp3"}',
            "unsupported_audio_format",
        ),
        (
            '{"type": "audio.start", "sample_rate": 4000, "channels": 1, "format": "s16le"}',
            "unsupported_audio_format",
        ),
        (
            '{"type": "audio.start", "sample_rate": 16000, "channels": 6, "format": "s16le"}',
            "unsupported_audio_format",
        ),
        ('{"type": "audio.start", "sample_rate": 16000.5, "channels": 1, "format": "s16le"}', "bad_field"),
        ('{"type": "playback", "event": "paused", "track_id": "a", "position_s": 1}', "bad_field"),
        ('{"type": "playback", "event": "skipped", "track_id": "a", "position_s": -1}', "bad_field"),
        ('{"type": "playback", "event": "skipped", "track_id": "a", "position_s": true}', "bad_field"),
        ('{"type": "playback", "event": "skipped", "track_id": "a"}', "missing_field"),
        ('{"type": "next", "count": 0}', "bad_field"),
        ('{"type": "next", "count": 51}', "bad_field"),
        ('{"type": "next", "id": [1]}', "bad_field"),
    ],
)
def test_malformed_frames_get_their_code(frame: str, code: str) -> None:
    """Each malformed frame raises ProtocolError with the stable code the doc promises."""
    with pytest.raises(ProtocolError) as exc:
        parse(frame)
    assert exc.value.code == code and code in ERROR_CODES


def test_lower_layer_codes_map_onto_the_closed_set() -> None:
    """Errors from mood/ and the library keep their code on the wire when it is in the set, else `internal`."""
    assert wire_code("no_speech") == "no_speech"
    assert wire_code("audio_format") == "unsupported_audio_format"
    assert wire_code("model_corrupt") == "internal"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([*CLIENT_TYPES, "other"]),
    st.dictionaries(
        st.sampled_from(["protocol", "client", "local_time", "text", "sample_rate", "channels", "format", "event",
                         "track_id", "position_s", "count", "queue", "id", "token", "listener_id"]),
        json_values,
        max_size=6,
    ),
)  # fmt: skip
def test_parse_never_fails_with_anything_but_a_protocol_error(type_: str, fields: dict[str, Any]) -> None:
    """Arbitrary JSON objects either parse or raise ProtocolError with a code from the closed set."""
    try:
        parse(json.dumps({"type": type_, **fields}))
    except ProtocolError as exc:
        assert exc.code in ERROR_CODES


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "text", "text": "hi \ud800 there"},
        {"type": "next", "id": "\udfff"},
        {"type": "session.start", "local_time": "2026-05-01T07:30:00+02:00", "listener_id": "\ud800"},
        {"type": "session.start", "local_time": "2026-05-01T07:30:00+02:00", "device": "car\udc00"},
        {"type": "session.start", "local_time": "2026-05-01T07:30:00+02:00", "queue": ["a", "\ud83d"]},
        {"type": "hello", "protocol": 1, "client": "x", "token": "\ud800"},
        {"type": "next", "\ud800": 1},
    ],
)
def test_a_lone_surrogate_anywhere_is_bad_field(frame: dict[str, Any]) -> None:
    """Valid JSON that is not valid text (a lone surrogate) never gets past parsing."""
    text = json.dumps(frame)  # ensure_ascii: the surrogate travels as a \\uXXXX escape
    with pytest.raises(ProtocolError) as exc:
        parse(text)
    assert exc.value.code == "bad_field"
    exc.value.message.encode("utf-8")  # the error itself can be sent


@pytest.mark.parametrize(
    ("local_time", "ok"),
    [
        ("9999-12-31T23:59:59+23:59", False),
        ("9999-12-31T23:59:59+00:00", False),
        ("0001-01-01T00:00:00+00:00", False),
        ("2026-05-01T07:30:00+14:30", False),
        ("2026-05-01T07:30:00-12:30", True),
        ("2026-05-01T07:30:00+14:00", True),
        ("2026-05-01T07:30:00Z", True),
        ("1970-01-01T00:00:00-12:00", True),
    ],
)
def test_local_time_is_bounded_to_real_offsets_and_years(local_time: str, ok: bool) -> None:
    """Offsets within ±14 h and years 1970–2199; the rest is `bad_field` at parse time."""
    frame = json.dumps({"type": "session.start", "local_time": local_time})
    if ok:
        assert isinstance(parse(frame), SessionStart)
    else:
        with pytest.raises(ProtocolError) as exc:
            parse(frame)
        assert exc.value.code == "bad_field"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"sample_rate": "16k"}, "bad_field"),
        ({"channels": 1.5}, "bad_field"),
        ({"format": 16}, "bad_field"),
        ({"sample_rate": 0}, "unsupported_audio_format"),
        ({"sample_rate": -16000}, "unsupported_audio_format"),
        ({"sample_rate": 7999}, "unsupported_audio_format"),
        ({"sample_rate": 10**12}, "unsupported_audio_format"),
        ({"channels": 0}, "unsupported_audio_format"),
        ({"channels": 3}, "unsupported_audio_format"),
        ({"channels": 1000}, "unsupported_audio_format"),
        ({"format": "mp3"}, "unsupported_audio_format"),
    ],
)
def test_audio_start_one_rule_type_is_bad_field_value_is_unsupported(
    fields: dict[str, Any], code: str
) -> None:
    """A wrong type is `bad_field`; a well-typed value the server does not take is `unsupported_audio_format`."""
    frame = {"type": "audio.start", "sample_rate": 16000, "channels": 1, "format": "s16le", **fields}
    with pytest.raises(ProtocolError) as exc:
        parse(json.dumps(frame))
    assert exc.value.code == code
