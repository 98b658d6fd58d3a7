"""The sans-I/O session core, driven with fakes: no sockets, no clock, no threads."""

from __future__ import annotations

import inspect
import json
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from mood.prosody import SpeakerBaseline
from mood.stream import Utterance
from mood.types import MoodEstimate
from player.core.listener import ListenerState
from player.core.protocol import PROTOCOL_VERSION, Ack, Control, Error, Mood, Queue, Vad, Welcome
from player.core.records import PLAYBACK_KINDS, LogEvent
from player.core.session import (
    AnalysisDone,
    AnalysisFailed,
    AnalysisRejected,
    Analyze,
    Close,
    Disconnected,
    Effect,
    FeedAudio,
    FinishAudio,
    HistoryLoaded,
    LoadHistory,
    OpenAudio,
    RecommenderLike,
    Record,
    SaveBaseline,
    Send,
    Session,
    SessionLimits,
    StreamFailed,
    TextMoodReader,
    UtteranceReady,
    VadChanged,
)
from player.settings import Settings
from tests.support.fakes import FakeMood, FakeRecommender, fake_deps, limits

T0 = 1_800_000_000.0
LOCAL = "2026-05-01T07:30:00+02:00"


def msg(type_: str, **fields: Any) -> str:
    return json.dumps({"type": type_, **fields})


def sent(effects: list[Effect]) -> list[Any]:
    return [e.message for e in effects if isinstance(e, Send)]


def errors(effects: list[Effect]) -> list[str]:
    return [m.code for m in sent(effects) if isinstance(m, Error)]


def utterance(start_s: float, end_s: float) -> Utterance:
    """A stream's utterance of silence from ``start_s`` to ``end_s`` (16 kHz, no margins)."""
    samples = np.zeros(round((end_s - start_s) * 16000), np.float32)
    return Utterance(
        samples=samples, start_s=start_s, end_s=end_s, speech_s=end_s - start_s, offset_s=start_s
    )


def started(session_limits: SessionLimits | None = None, **start: Any) -> Session:
    session = Session("s1", fake_deps(), session_limits or limits())
    assert isinstance(
        sent(session.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0))[0], Welcome
    )
    effects = session.handle(msg("session.start", local_time=LOCAL, **start), now_s=T0)
    if start.get("listener_id"):
        assert effects == [LoadHistory(start["listener_id"])]
        effects = session.handle(HistoryLoaded(()), now_s=T0)
    assert isinstance(sent(effects)[-1], Queue)
    return session


def mean_energy(queue: Queue) -> float:
    return float(np.mean([t.energy for t in queue.tracks]))


def test_hello_welcomes_with_protocol_and_session_id() -> None:
    """`hello` with the right version is answered by `welcome` carrying the session id."""
    session = Session("abc", fake_deps(), limits())
    out = sent(session.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0))
    assert out == [Welcome(protocol=PROTOCOL_VERSION, session_id="abc")]


def test_wrong_token_is_refused_and_closes() -> None:
    """A wrong token gets `unauthorized` and a 1008 close; the right one is welcomed."""
    session = Session("s", fake_deps(), limits(token="sesame"))
    effects = session.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t", token="nope"), now_s=T0)
    assert errors(effects) == ["unauthorized"]
    assert effects[-1] == Close(1008, "unauthorized")
    other = Session("s2", fake_deps(), limits(token="sesame"))
    ok = other.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t", token="sesame"), now_s=T0)
    assert isinstance(sent(ok)[0], Welcome)


def test_wrong_protocol_version_keeps_the_connection_usable() -> None:
    """An unsupported protocol is an error, and a correct `hello` afterwards still works."""
    session = Session("s", fake_deps(), limits())
    assert errors(session.handle(msg("hello", protocol=99, client="t"), now_s=T0)) == ["unsupported_protocol"]
    assert isinstance(
        sent(session.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0))[0], Welcome
    )


def test_order_of_the_conversation_is_enforced() -> None:
    """Messages before `hello` or `session.start` get `not_started`; repeats get `already_started`."""
    session = Session("s", fake_deps(), limits())
    assert errors(session.handle(msg("text", text="hi"), now_s=T0)) == ["not_started"]
    session.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0)
    assert errors(session.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0)) == [
        "already_started"
    ]
    assert errors(session.handle(msg("next", count=3), now_s=T0)) == ["not_started"]
    session.handle(msg("session.start", local_time=LOCAL), now_s=T0)
    assert errors(session.handle(msg("session.start", local_time=LOCAL), now_s=T0)) == ["already_started"]


def test_session_start_records_then_sends_the_first_queue() -> None:
    """An anonymous session is logged as `session_start` before the first queue is sent."""
    session = Session("s", fake_deps(), limits())
    session.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0)
    effects = session.handle(msg("session.start", local_time=LOCAL, device="car", id=7), now_s=T0)
    assert isinstance(effects[0], Record) and effects[0].event.kind == "session_start"
    assert effects[0].event.listener_id == "anon-s"
    assert effects[0].event.local_time == LOCAL and effects[0].event.device == "car"
    queue = sent(effects)[0]
    assert (
        isinstance(queue, Queue) and queue.trigger == "start" and queue.ref == 7 and len(queue.tracks) == 10
    )


def test_returning_listener_history_is_replayed_into_the_state() -> None:
    """`listener_id` loads the log; its sessions, moods and playback of tracks still in the library reach
    the ListenerState, and the session starts now."""
    session = Session("s", fake_deps(), limits())
    session.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0)
    assert session.handle(msg("session.start", local_time=LOCAL, listener_id="ann"), now_s=T0) == [
        LoadHistory("ann")
    ]
    history = [
        LogEvent("session_start", "ann", "old", T0 - 100, local_time="2026-04-30T21:00:00+02:00"),
        LogEvent("started", "ann", "old", T0 - 90, track_id="t03", position_s=0.0),
        LogEvent("skipped", "ann", "old", T0 - 80, track_id="t03", position_s=10.0),
        LogEvent("started", "ann", "old", T0 - 79, track_id="gone", position_s=0.0),
        LogEvent("mood", "ann", "old", T0 - 70, valence=0.2, energy=0.1, confidence=1.0),
    ]
    effects = session.handle(HistoryLoaded(history), now_s=T0)
    state = session.state
    assert isinstance(state, ListenerState)
    assert [(h.kind, h.track_id, h.position_s) for h in state.history] == [
        ("skipped", "t03", 10.0),
        ("started", "t03", 0.0),
    ]
    assert state.mood_observations == 1 and state.session_position == 0 and state.session_started_s == T0
    assert state.local_time(T0).isoformat() == LOCAL
    record = effects[0]
    assert isinstance(record, Record) and record.event.kind == "session_start" and record.event.at_s == T0
    queue = sent(effects)[0]
    assert "t03" not in [t.id for t in queue.tracks]


def test_history_arriving_after_a_disconnect_starts_nothing() -> None:
    """A listener who left while their history loaded gets no session start, no record and no queue."""
    session = Session("s", fake_deps(), limits())
    session.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0)
    session.handle(msg("session.start", local_time=LOCAL, listener_id="ann"), now_s=T0)
    assert session.handle(Disconnected(), now_s=T0 + 1) == []
    assert session.handle(HistoryLoaded(()), now_s=T0 + 2) == [] and session.state is None


def test_text_mood_is_logged_without_transcript_by_default() -> None:
    """Typed text yields a logged mood (numbers only), a `mood` message and a fresh `queue`."""
    session = started()
    effects = session.handle(msg("text", text="ugh, I'm exhausted", id="m1"), now_s=T0 + 1)
    record = next(e for e in effects if isinstance(e, Record))
    assert record.event.kind == "mood" and record.event.energy == 0.15 and record.event.transcript is None
    out = sent(effects)
    assert (
        isinstance(out[0], Mood) and out[0].estimate.transcript == "ugh, I'm exhausted" and out[0].ref == "m1"
    )
    assert isinstance(out[1], Queue) and out[1].trigger == "mood"
    assert effects.index(record) < effects.index(Send(out[0]))


def test_transcripts_are_logged_only_with_consent() -> None:
    """With `store_transcripts` the mood record carries the text; the fake evidence is handed over."""
    session = started(store_transcripts=True)
    effects = session.handle(msg("text", text="I'm pumped"), now_s=T0 + 1)
    record = next(e for e in effects if isinstance(e, Record))
    assert record.event.transcript == "I'm pumped"
    assert record.evidence is not None


def test_mood_moves_the_queue_energy() -> None:
    """A tired text then a pumped one: the queue's mean energy goes below the first queue's, then above."""
    session = Session("s", fake_deps(), limits())
    session.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0)
    first = sent(session.handle(msg("session.start", local_time=LOCAL), now_s=T0))[-1]
    tired = sent(session.handle(msg("text", text="ugh, I'm exhausted"), now_s=T0 + 1))[-1]
    pumped = sent(session.handle(msg("text", text="let's go, I'm pumped"), now_s=T0 + 2))[-1]
    assert mean_energy(tired) < mean_energy(first) - 0.1
    assert mean_energy(pumped) > mean_energy(first) + 0.1


def test_playback_is_recorded_before_its_ack() -> None:
    """A playback event is a Record followed by its `ack`; a skip also pushes a queue without that track."""
    session = started()
    effects = session.handle(
        msg("playback", event="started", track_id="t05", position_s=0.0, id=1), now_s=T0 + 1
    )
    assert isinstance(effects[0], Record) and effects[0].event.kind == "started"
    assert sent(effects) == [Ack(of="playback", ref=1)]
    effects = session.handle(
        msg("playback", event="skipped", track_id="t05", position_s=12.5, id=2), now_s=T0 + 13
    )
    assert isinstance(effects[0], Record) and effects[0].event.position_s == 12.5
    ack, queue = sent(effects)
    assert ack == Ack(of="playback", ref=2)
    assert isinstance(queue, Queue) and queue.trigger == "skip" and "t05" not in [t.id for t in queue.tracks]


def test_a_position_beyond_the_track_is_clamped_to_its_length() -> None:
    """A player's clock past the end (t05 lasts 180 s) is logged and observed at the track's length."""
    session = started()
    session.handle(msg("playback", event="started", track_id="t05", position_s=0.0), now_s=T0 + 1)
    effects = session.handle(
        msg("playback", event="completed", track_id="t05", position_s=9000.0, id=3), now_s=T0 + 181
    )
    assert isinstance(effects[0], Record) and effects[0].event.position_s == 180.0
    assert sent(effects) == [Ack(of="playback", ref=3)]


def test_unknown_track_ids_are_refused() -> None:
    """Playback of an unknown track and a session queue with one get `unknown_track`, nothing logged."""
    session = started()
    effects = session.handle(msg("playback", event="liked", track_id="nope", position_s=1.0, id=3), now_s=T0)
    assert errors(effects) == ["unknown_track"] and not any(isinstance(e, Record) for e in effects)
    other = Session("s2", fake_deps(), limits())
    other.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0)
    assert errors(other.handle(msg("session.start", local_time=LOCAL, queue=["t01", "zz"]), now_s=T0)) == [
        "unknown_track"
    ]


def test_queue_stays_within_the_session_queue() -> None:
    """`session.start.queue` restricts every queue to those ids."""
    session = started(queue=["t01", "t02", "t03"])
    effects = session.handle(msg("next", count=10), now_s=T0 + 1)
    queue = sent(effects)[0]
    assert {t.id for t in queue.tracks} == {"t01", "t02", "t03"}


def test_spoken_skip_acts_like_a_skip_at_the_estimated_position() -> None:
    """A skip intent while a track plays logs a skip at start position + elapsed time and sends `control`."""
    session = started()
    session.handle(msg("playback", event="started", track_id="t07", position_s=5.0), now_s=T0)
    effects = session.handle(msg("text", text="skip this one"), now_s=T0 + 20)
    skip = [e.event for e in effects if isinstance(e, Record) and e.event.kind == "skipped"]
    assert len(skip) == 1 and skip[0].track_id == "t07" and skip[0].position_s == 25.0
    assert Control(action="skip", track_id="t07") in sent(effects)
    assert sent(effects)[-1].trigger == "intent"


def test_spoken_like_and_stop() -> None:
    """'love this' logs a like of the playing track; 'stop' sends a stop control."""
    session = started()
    session.handle(msg("playback", event="started", track_id="t02", position_s=0.0), now_s=T0)
    effects = session.handle(msg("text", text="I love this, now stop"), now_s=T0 + 3)
    assert [e.event.kind for e in effects if isinstance(e, Record)] == ["mood", "liked"]
    assert Control(action="stop", track_id="t02") in sent(effects)


def test_audio_frames_flow_through_the_stream_effects() -> None:
    """audio.start opens the stream, frames feed whole samples only, audio.stop finishes it."""
    session = started()
    assert session.handle(msg("audio.start", sample_rate=16000, channels=2, format="s16le"), now_s=T0) == [
        OpenAudio(16000, 2, "s16le")
    ]
    assert session.handle(b"\x01\x02\x03\x04\x05\x06", now_s=T0) == [FeedAudio(b"\x01\x02\x03\x04")]
    assert session.handle(b"\x07\x08", now_s=T0) == [FeedAudio(b"\x05\x06\x07\x08")]
    assert session.handle(VadChanged("speech", 0.3), now_s=T0) == [Send(Vad("speech", 0.3))]
    assert session.handle(msg("audio.stop", id=4), now_s=T0) == [
        FinishAudio(),
        Send(Ack(of="audio.stop", ref=4)),
    ]
    assert errors(session.handle(b"\x00\x00", now_s=T0)) == ["binary_outside_audio"]


def test_utterance_analysis_round_trip_and_failures() -> None:
    """An utterance becomes an Analyze effect; its result a voice mood; failures map to error codes."""
    session = started()
    session.handle(msg("audio.start", sample_rate=16000, channels=1, format="f32le"), now_s=T0)
    u1 = utterance(0.5, 2.0)
    effects = session.handle(UtteranceReady(u1), now_s=T0)
    assert effects == [Analyze(request_id=1, utterance=u1, baseline=session.baseline)]
    estimate = MoodEstimate(valence=0.6, energy=0.8, confidence=0.7, transcript="hello")
    out = sent(session.handle(AnalysisDone(1, estimate), now_s=T0 + 1))
    assert (
        isinstance(out[0], Mood)
        and out[0].source == "voice"
        and out[0].start_s == 0.5
        and out[0].end_s == 2.0
    )
    assert isinstance(out[1], Queue)
    assert errors(session.handle(UtteranceReady(utterance(0.0, 30.0)), now_s=T0)) == ["audio_too_long"]
    # a piece of over-long speech is refused however short the stream cut it
    piece = replace(utterance(0.0, 29.5), reached_limit=True)
    assert errors(session.handle(UtteranceReady(piece), now_s=T0)) == ["audio_too_long"]
    session.handle(UtteranceReady(utterance(3.0, 4.0)), now_s=T0)
    assert errors(session.handle(AnalysisRejected(2), now_s=T0)) == ["busy"]
    session.handle(UtteranceReady(utterance(5.0, 6.0)), now_s=T0)
    assert errors(session.handle(AnalysisFailed(3, "no_speech", "no speech"), now_s=T0)) == ["no_speech"]
    assert errors(session.handle(AnalysisFailed(3, "audio_format", "bad"), now_s=T0)) == [
        "unsupported_audio_format"
    ]
    assert errors(session.handle(AnalysisFailed(3, "whatever", "?"), now_s=T0)) == ["internal"]


def test_stream_failures_are_their_own_event() -> None:
    """A stream that cannot open or refuses a chunk answers with the wire code of its error."""
    session = started()
    session.handle(msg("audio.start", sample_rate=16000, channels=1, format="f32le"), now_s=T0)
    assert errors(session.handle(StreamFailed("audio_format", "8 channels"), now_s=T0)) == [
        "unsupported_audio_format"
    ]
    assert errors(session.handle(StreamFailed("audio_not_finite", "NaN"), now_s=T0)) == ["audio_not_finite"]


def test_a_named_speaker_baseline_is_loaded_used_and_saved() -> None:
    """The stored baseline comes with the history, every Analyze carries it, and each analysed
    utterance is followed by a SaveBaseline of its current state, at the time of the result."""
    stored = SpeakerBaseline()
    stored.utterances, stored.speech_s = 7, 21.5
    session = Session("s", fake_deps(), limits())
    session.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0)
    session.handle(msg("session.start", local_time=LOCAL, listener_id="ann"), now_s=T0)
    session.handle(HistoryLoaded((), baseline=stored.to_dict()), now_s=T0)
    session.handle(msg("audio.start", sample_rate=16000, channels=1, format="f32le"), now_s=T0)
    (analyze,) = session.handle(UtteranceReady(utterance(0.5, 2.0)), now_s=T0)
    assert isinstance(analyze, Analyze) and analyze.baseline is session.baseline
    assert analyze.baseline is not None and analyze.baseline.to_dict() == stored.to_dict()
    analyze.baseline.speech_s += 1.5  # what the analysis does to it, in the worker
    effects = session.handle(AnalysisDone(1, MoodEstimate(0.5, 0.5, 0.5)), now_s=T0 + 3)
    assert isinstance(sent(effects)[0], Mood)
    assert effects[-1] == SaveBaseline(
        "ann", {**stored.to_dict(), "speech_s": 23.0}, at_s=T0 + 3, session_id=session.session_id
    )


def test_anonymous_and_unreadable_baselines_start_fresh_and_anonymous_ones_are_not_saved() -> None:
    """An anonymous session reads speech against a fresh baseline and never stores it; an unreadable
    stored baseline is replaced by a fresh one."""
    anonymous = started()
    anonymous.handle(msg("audio.start", sample_rate=16000, channels=1, format="f32le"), now_s=T0)
    (analyze,) = anonymous.handle(UtteranceReady(utterance(0.5, 2.0)), now_s=T0)
    assert isinstance(analyze, Analyze) and analyze.baseline is not None
    assert analyze.baseline.to_dict() == SpeakerBaseline().to_dict()
    effects = anonymous.handle(AnalysisDone(1, MoodEstimate(0.5, 0.5, 0.5)), now_s=T0 + 1)
    assert not any(isinstance(e, SaveBaseline) for e in effects)
    named = Session("n", fake_deps(), limits())
    named.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0)
    named.handle(msg("session.start", local_time=LOCAL, listener_id="bo"), now_s=T0)
    named.handle(HistoryLoaded((), baseline={"version": 99}), now_s=T0)
    assert named.baseline is not None and named.baseline.to_dict() == SpeakerBaseline().to_dict()


def test_session_limits_come_from_settings_alone() -> None:
    """SessionLimits has no defaults of its own: every field is read from the Settings it is built from."""
    assert all(f.default is MISSING and f.default_factory is MISSING for f in fields(SessionLimits))
    settings = Settings(home=Path("/h"), token="t", max_utterance_s=12.0, messages_per_s=3.0, queue_count=4)
    built = SessionLimits.from_settings(settings)
    assert {f.name: getattr(built, f.name) for f in fields(SessionLimits)} == {
        f.name: getattr(settings, f.name) for f in fields(SessionLimits)
    }


def test_fakes_implement_exactly_the_protocols() -> None:
    """The unit tier's fakes have the Protocols' public methods with the same signatures, nothing more."""
    for fake, protocol in ((FakeMood, TextMoodReader), (FakeRecommender, RecommenderLike)):
        public = {n for n in vars(fake) if not n.startswith("_")}
        assert public == {n for n in vars(protocol) if not n.startswith("_")}
        for name in public:
            assert inspect.signature(getattr(fake, name)) == inspect.signature(getattr(protocol, name))


def test_rate_limit_drops_excess_messages_and_recovers() -> None:
    """Past the burst, messages get `rate_limited`; after a pause they are served again."""
    session = started(limits(messages_per_s=10.0, message_burst=5.0))
    codes = [errors(session.handle(msg("next", count=1), now_s=T0 + 1)) for _ in range(8)]
    assert codes.count(["rate_limited"]) >= 3 and codes[0] == []
    assert errors(session.handle(msg("next", count=1), now_s=T0 + 3)) == []


def test_oversized_frames_are_refused() -> None:
    """Text and binary frames over their limits get `frame_too_large`."""
    session = started(limits(max_text_bytes=100, max_binary_bytes=10))
    assert errors(session.handle(msg("text", text="x" * 200), now_s=T0)) == ["frame_too_large"]
    session.handle(msg("audio.start", sample_rate=16000, channels=1, format="s16le"), now_s=T0)
    assert errors(session.handle(b"\x00" * 12, now_s=T0)) == ["frame_too_large"]
    assert session.handle(b"\x00" * 10, now_s=T0) == [FeedAudio(b"\x00" * 10)]


def test_session_end_and_disconnect_are_logged() -> None:
    """`session.end` logs, acks and closes; a dropped connection logs its end once."""
    session = started()
    effects = session.handle(msg("session.end", id="bye"), now_s=T0 + 5)
    assert isinstance(effects[0], Record) and effects[0].event.kind == "session_end"
    assert effects[1:] == [Send(Ack(of="session.end", ref="bye")), Close(1000, "session ended")]
    assert session.handle(Disconnected(), now_s=T0 + 6) == []
    other = started()
    effects = other.handle(Disconnected(), now_s=T0 + 6)
    assert [e.event.kind for e in effects if isinstance(e, Record)] == ["session_end"]


def test_two_sessions_keep_their_own_state() -> None:
    """Two sessions over the same engines never share listener state or moods."""
    deps = fake_deps()
    a, b = Session("a", deps, limits()), Session("b", deps, limits())
    for s in (a, b):
        s.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0)
        s.handle(msg("session.start", local_time=LOCAL), now_s=T0)
    a.handle(msg("text", text="I'm exhausted"), now_s=T0 + 1)
    assert b.state is not None and a.state is not None and b.state is not a.state
    assert b.state.mood_observations == 0 and a.state.mood_observations == 1


def test_stray_binary_frames_are_rate_limited_like_messages() -> None:
    """A flood of binary frames outside audio exhausts the message bucket too."""
    session = started(limits(messages_per_s=1.0, message_burst=3.0))
    codes = [errors(session.handle(b"\x00\x00", now_s=T0 + 1)) for _ in range(5)]
    assert codes[0] == ["binary_outside_audio"] and codes[-1] == ["rate_limited"]


class _Counting:
    """Counts the calls into the text reader and the recommender (the heavy engines)."""

    def __init__(self, deps: Any) -> None:
        self.calls = 0
        self.mood, self.recommender = deps.mood, deps.recommender

    def analyze_text(self, text: str) -> MoodEstimate:
        self.calls += 1
        return self.mood.analyze_text(text)

    def recommend(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.recommender.recommend(*args, **kwargs)


def test_light_input_never_reads_text_or_ranks() -> None:
    """`Session.light` (the shell runs light input without a worker thread) holds exactly for input whose
    handling calls neither the text reader nor the recommender, over every kind of client input."""
    session = started()
    counting = _Counting(session.deps)
    session.use(replace(session.deps, mood=counting, recommender=counting))
    track = next(iter(session.deps.tracks))
    inputs: list[Any] = [
        *(msg("playback", event=e, track_id=track, position_s=1.0) for e in PLAYBACK_KINDS),
        msg("playback", event="started", track_id="no-such-track", position_s=0.0),
        msg("text", text="I'm exhausted"),
        msg("next", count=3),
        msg("mixes.list"),
        msg("audio.start", sample_rate=16000, format="s16le", channels=1),
        b"\x00\x00" * 160,
        VadChanged("speech", 0.1),
        StreamFailed("audio_format", "bad"),
        msg("audio.stop"),
        "{not json",
        "[1, 2]",
        msg("playback", event="started", track_id=track, position_s=0.0, pad="x" * 2000),
    ]
    light, heavy = [], []
    for incoming in inputs:
        before = counting.calls
        session.handle(incoming, now_s=T0 + 1)
        called = counting.calls > before
        (light if Session.light(incoming) else heavy).append(incoming)
        assert not (Session.light(incoming) and called), incoming
    assert msg("text", text="I'm exhausted") in heavy and msg("next", count=3) in heavy
    requeue = {msg("playback", event=e, track_id=track, position_s=1.0) for e in ("skipped", "disliked")}
    assert requeue <= set(heavy)
    plain = {msg("playback", event=e, track_id=track, position_s=1.0) for e in PLAYBACK_KINDS} - requeue
    assert plain <= set(light)
    assert b"\x00\x00" * 160 in light and "{not json" in light
