"""Every reason of many queues checked against the demo catalog's designed truth (truth.json).

Simulated listeners (a local time, an opening — nothing, a mood reading or a spoken request — and a
hidden taste on the valence/energy plane that decides each play's outcome from the *designed* values)
play eight queues of ten on the scanned demo library with the shipped ranker. Every reason is parsed
and checked: a direction word ("a step calmer than X") agrees with the designed change from the
track before; no word goes against the active request; a named liked, completed, skipped or disliked
track really was so in that listener's session; a mood or a time named is the one the listener gave.
The figures (agreement, distinct reasons per queue and overall) are printed for docs/ranking.md.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mood.types import Intent, MoodEstimate
from player.core.listener import EARLY_SKIP_S, ListenerState, PlaybackEvent
from player.core.ranking import OnnxRanker, Recommender, shipped_ranker_path
from player.core.track import Track

pytestmark = pytest.mark.integration

T0 = 1_780_000_000.0
TZ = timezone(timedelta(hours=1))
QUEUE = 10
DECISIONS = 8

STEP = re.compile(r"^a step (calmer|livelier|brighter|darker) than (.+?)(?:, toward your '(.+)' request)?$")
LIKE = re.compile(r"^like (.+), which you (liked|played through)$")
UNLIKE = re.compile(r"^unlike (.+), which you (skipped|disliked)$")
AGAIN = re.compile(r"^you (liked this one|played this one through) before$")
MOOD = re.compile(r"^suits your (\w+) mood$")
CONTEXT = re.compile(r"^(?:fits a|your usual) (\w+)[ -](morning|afternoon|evening|night)(?: energy)?$")
REQUEST = re.compile(r"^(?:at|part way to) your '(.+)' request$")
ARTIST = re.compile(r"^more from (.+), whose (.+) you (liked|played through)$")
CHARACTER = re.compile(
    r"^(gentle|driving)?(?: and )?(dark|bright)?, for (?:your '(.+)' request|your (\w+) mood|a (\w+) (\w+))$"
)
PULSE = re.compile(r"^close to the tempo of (.+)$")
NEW = re.compile(r"^new to you, from (.+)$")
FALLBACK = re.compile(r"^(close to where you are now|picked for right now|a change of sound after (.+))$")

WORD_AXIS = {
    "calmer": ("energy", -1),
    "livelier": ("energy", 1),
    "darker": ("valence", -1),
    "brighter": ("valence", 1),
}
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Opening:
    """How a simulated session begins, and the hidden taste (valence, energy) its listener plays by."""

    name: str
    taste: tuple[float, float]
    estimate: MoodEstimate | None = None


OPENINGS = (
    Opening("silent", (0.55, 0.5)),
    Opening(
        "sad and lonely", (0.2, 0.35), MoodEstimate(0.2, 0.5, 0.45, label="tense", energy_confidence=0.0)
    ),
    Opening("exhausted", (0.35, 0.2), MoodEstimate(0.35, 0.17, 0.8, label="tired")),
    Opening("excited", (0.8, 0.8), MoodEstimate(0.84, 0.78, 0.8, label="excited")),
    *(
        Opening(
            f"request {kind}",
            taste,
            MoodEstimate(
                0.5,
                0.55,
                0.6,
                label="neutral",
                intents=(Intent(kind, 0.7, kind.replace("_", " ")),),  # type: ignore[arg-type]
            ),
        )
        for kind, taste in (
            ("calmer", (0.55, 0.25)),
            ("energize", (0.6, 0.85)),
            ("party", (0.8, 0.85)),
            ("sleep", (0.4, 0.12)),
            ("focus", (0.5, 0.4)),
            ("workout", (0.65, 0.9)),
            ("cheer_up", (0.85, 0.65)),
        )
    ),
)
START_TIMES = (
    datetime(2026, 3, 2, 7, 0, tzinfo=TZ),  # Monday morning
    datetime(2026, 3, 4, 12, 30, tzinfo=TZ),  # Wednesday afternoon
    datetime(2026, 3, 6, 18, 0, tzinfo=TZ),  # Friday evening
    datetime(2026, 3, 3, 23, 0, tzinfo=TZ),  # Tuesday night
    datetime(2026, 3, 7, 10, 0, tzinfo=TZ),  # Saturday morning
    datetime(2026, 3, 8, 1, 0, tzinfo=TZ),  # Saturday night (Sunday 01:00)
)


@dataclass
class QueueRecord:
    """One decision: the queue's picks and reasons, what came before, and the session so far."""

    opening: Opening
    local: datetime
    picks: list[Track]
    reasons: list[str]
    previous: Track | None
    """The track started last before the decision."""
    request: str | None
    """Label of the active request (None without one)."""
    outcomes: dict[str, set[str]] = field(default_factory=dict)
    """Track id -> what happened to it so far in the session ('started', 'liked', 'completed',
    'skipped', 'disliked')."""


def _outcome(truth: dict[str, float], taste: tuple[float, float]) -> str:
    d = ((truth["valence"] - taste[0]) ** 2 + (truth["energy"] - taste[1]) ** 2) ** 0.5
    if d <= 0.12:
        return "liked"
    if d <= 0.25:
        return "completed"
    if d <= 0.4:
        return "late"
    return "early" if d <= 0.55 else "disliked"


def run_sessions(
    rec: Recommender,
    truth: dict[str, dict[str, float]],
    *,
    event: Callable[..., Any] = PlaybackEvent,
) -> Iterator[QueueRecord]:
    """Play every (start time, opening) session; yield each decision's queue with its context.

    ``event`` builds a playback event from (kind, track, position_s, at_s): by default one that
    carries the track's measured valence and energy, as the session gives the state.
    """
    for local in START_TIMES:
        for opening in OPENINGS:
            state = ListenerState("sim", local_time=local, at_s=T0)
            at = T0
            if opening.estimate is not None:
                state.observe_mood(opening.estimate, at_s=at)
            outcomes: dict[str, set[str]] = {}
            previous: Track | None = None
            for _ in range(DECISIONS):
                at += 1.0
                r = rec.recommend(state, count=QUEUE, at_s=at)
                intent = state.active_intent(at)
                yield QueueRecord(
                    opening,
                    state.local_time(at),
                    [p.track for p in r.picks],
                    [p.reason for p in r.picks],
                    previous,
                    None if intent is None else intent.label,
                    {k: set(v) for k, v in outcomes.items()},
                )
                track = r.picks[0].track
                outcome = _outcome(truth[track.id], opening.taste)
                state.observe_playback(event("started", track, 0.0, at))
                outcomes.setdefault(track.id, set()).add("started")
                previous = track
                if outcome in ("early", "disliked"):
                    at += 8.0
                    state.observe_playback(event("skipped", track, 8.0, at))
                    outcomes[track.id].add("skipped")
                    if outcome == "disliked":
                        state.observe_playback(event("disliked", track, 8.0, at))
                        outcomes[track.id].add("disliked")
                elif outcome == "late":
                    position = max(EARLY_SKIP_S + 1.0, 0.7 * track.duration_s)
                    at += position
                    state.observe_playback(event("skipped", track, position, at))
                    outcomes[track.id].add("skipped")
                else:
                    if outcome == "liked":
                        state.observe_playback(event("liked", track, 10.0, at + 10.0))
                        outcomes[track.id].add("liked")
                    at += track.duration_s
                    state.observe_playback(event("completed", track, track.duration_s, at))
                    outcomes[track.id].add("completed")


def _event(kind: str, track: Track, position_s: float, at_s: float) -> PlaybackEvent:
    return PlaybackEvent(kind, track.id, position_s, at_s, track.valence, track.energy)  # type: ignore[arg-type]


FORBIDDEN_WORDS = {
    "calmer": {"livelier"},
    "sleep": {"livelier"},
    "energize": {"calmer"},
    "workout": {"calmer"},
    "party": {"calmer", "darker"},
    "cheer up": {"darker"},
    "focus": {"livelier"},  # every opening here sits above focus's energy (0.4)
}
"""Direction words that would contradict each request, by its label."""
FORBIDDEN_CHARACTER = {
    "calmer": {"driving"},
    "sleep": {"driving"},
    "energize": {"gentle"},
    "workout": {"gentle"},
    "party": {"gentle", "dark"},
    "cheer up": {"dark"},
    "focus": {"driving"},
}
"""Character words that would contradict each request."""


@dataclass
class Audit:
    """What the checks found, over every pick of every queue."""

    picks: int = 0
    queues: int = 0
    direction_words: int = 0
    direction_agree: int = 0
    contradictions: list[str] = field(default_factory=list)
    false_evidence: list[str] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)
    distinct_per_queue: list[int] = field(default_factory=list)
    texts: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        return {
            "picks": self.picks,
            "queues": self.queues,
            "distinct_reasons": len(self.texts),
            "distinct_per_queue": round(sum(self.distinct_per_queue) / max(1, self.queues), 2),
            "direction_words": self.direction_words,
            "direction_agree": self.direction_agree,
            "contradictions": len(self.contradictions),
            "false_evidence": len(self.false_evidence),
            "most_common": self.texts.most_common(3),
            "kinds": dict(self.kinds),
        }


def _day_part(local: datetime) -> tuple[str, str]:
    day = local.weekday() if local.hour >= 5 else (local.weekday() - 1) % 7
    if local.hour < 5 or local.hour >= 22:
        return DAYS[day], "night"
    return DAYS[day], "morning" if local.hour < 12 else "afternoon" if local.hour < 17 else "evening"


def _same_pulse(a: float, b: float) -> bool:
    ratio = abs(math.log2(a / b))
    return min(ratio, abs(ratio - 1.0), abs(ratio + 1.0)) <= math.log2(1.08)


def audit(records: Iterator[QueueRecord], truth: dict[str, dict[str, Any]]) -> Audit:
    """Parse and check every reason (see the module docstring)."""
    a = Audit()
    for q in records:
        a.queues += 1
        a.distinct_per_queue.append(len(set(q.reasons)))
        before = q.previous
        enjoyed = {t for t, o in q.outcomes.items() if o & {"liked", "completed"}}
        for track, reason in zip(q.picks, q.reasons, strict=True):
            a.picks += 1
            a.texts[reason] += 1
            if m := STEP.match(reason):
                a.kinds["step"] += 1
                word, named, request = m.group(1), m.group(2), m.group(3)
                if before is None or named != before.title:
                    a.false_evidence.append(f"{reason!r}: the track before was {before and before.title!r}")
                else:
                    axis, sign = WORD_AXIS[word]
                    a.direction_words += 1
                    change = truth[track.id][axis] - truth[before.id][axis]
                    a.direction_agree += int(change * sign > 0)
                if q.request is not None and word in FORBIDDEN_WORDS.get(q.request, set()):
                    a.contradictions.append(f"{reason!r} under the '{q.request}' request")
                if request is not None and request != q.request:
                    a.false_evidence.append(f"{reason!r}: the active request is {q.request!r}")
            elif m := LIKE.match(reason):
                a.kinds["resembles"] += 1
                named, how = m.group(1), m.group(2)
                wanted = "liked" if how == "liked" else "completed"
                if not any(truth[t]["title"] == named and wanted in q.outcomes[t] for t in q.outcomes):
                    a.false_evidence.append(f"{reason!r}: no track so titled was {wanted} in the session")
            elif m := UNLIKE.match(reason):
                a.kinds["avoids"] += 1
                named, how = m.group(1), m.group(2)
                if not any(truth[t]["title"] == named and how in q.outcomes[t] for t in q.outcomes):
                    a.false_evidence.append(f"{reason!r}: no track so titled was {how} in the session")
            elif m := AGAIN.match(reason):
                a.kinds["again"] += 1
                if track.id not in enjoyed:
                    a.false_evidence.append(f"{reason!r}: {track.title} was not enjoyed in the session")
            elif m := MOOD.match(reason):
                a.kinds["mood"] += 1
                label = q.opening.estimate.label if q.opening.estimate is not None else None
                if m.group(1) != label:
                    a.false_evidence.append(f"{reason!r}: the listener's reading was {label!r}")
            elif m := CONTEXT.match(reason):
                a.kinds["context"] += 1
                if (m.group(1), m.group(2)) != _day_part(q.local):
                    a.false_evidence.append(f"{reason!r}: it is a {_day_part(q.local)}")
            elif m := ARTIST.match(reason):
                a.kinds["artist"] += 1
                artist, named, how = m.group(1), m.group(2), m.group(3)
                wanted = "liked" if how == "liked" else "completed"
                if track.artist != artist or not any(
                    truth[t]["title"] == named and truth[t]["artist"] == artist and wanted in q.outcomes[t]
                    for t in q.outcomes
                ):
                    a.false_evidence.append(f"{reason!r}: no such track by {artist} was {wanted}")
            elif (m := CHARACTER.match(reason)) and (m.group(1) or m.group(2)):
                a.kinds["character"] += 1
                energy_word, valence_word = m.group(1), m.group(2)
                designed = truth[track.id]
                wrong = (
                    (energy_word == "gentle" and designed["energy"] > 0.4)
                    or (energy_word == "driving" and designed["energy"] < 0.6)
                    or (valence_word == "dark" and designed["valence"] > 0.4)
                    or (valence_word == "bright" and designed["valence"] < 0.6)
                )
                if wrong:
                    a.false_evidence.append(
                        f"{reason!r}: designed energy {designed['energy']:.2f}, valence {designed['valence']:.2f}"
                    )
                if m.group(3) is not None and m.group(3) != q.request:
                    a.false_evidence.append(f"{reason!r}: the active request is {q.request!r}")
                if q.request is not None and {energy_word, valence_word} & FORBIDDEN_CHARACTER.get(
                    q.request, set()
                ):
                    a.contradictions.append(f"{reason!r} under the '{q.request}' request")
            elif m := PULSE.match(reason):
                a.kinds["pulse"] += 1
                if before is None or m.group(1) != before.title:
                    a.false_evidence.append(f"{reason!r}: the track before was {before and before.title!r}")
                elif not _same_pulse(truth[track.id]["tempo_bpm"], truth[before.id]["tempo_bpm"]):
                    a.false_evidence.append(f"{reason!r}: designed tempos differ by more than 8 %")
            elif m := NEW.match(reason):
                a.kinds["new"] += 1
                if m.group(1) != track.artist or "started" in q.outcomes.get(track.id, set()):
                    a.false_evidence.append(f"{reason!r}: {track.title} by {track.artist} was played before")
            elif m := REQUEST.match(reason):
                a.kinds["request"] += 1
                if m.group(1) != q.request:
                    a.false_evidence.append(f"{reason!r}: the active request is {q.request!r}")
            elif m := FALLBACK.match(reason):
                a.kinds["fallback"] += 1
                if m.group(2) is not None and (before is None or m.group(2) != before.title):
                    a.false_evidence.append(f"{reason!r}: the track before was {before and before.title!r}")
            else:
                a.unparsed.append(reason)
            before = track
    return a


@pytest.fixture(scope="module")
def demo_truth(demo_home: Path, demo_catalog: Path) -> tuple[Recommender, dict[str, dict[str, Any]]]:
    """The recommender over the scanned demo library, and each track's designed truth by track id."""
    from player.library.store import LibraryStore

    with LibraryStore(demo_home / "library.db") as store:
        tracks = store.tracks()
        rec = Recommender(tracks, store.feature_matrix(), OnnxRanker.load(shipped_ranker_path()))
    designed = {d["file"]: d for d in json.loads((demo_catalog / "truth.json").read_text())["tracks"]}
    return rec, {t.id: designed[Path(t.path).name] for t in tracks}


@pytest.fixture(scope="module")
def reason_audit(demo_truth: tuple[Recommender, dict[str, dict[str, Any]]]) -> Audit:
    """Every reason of 6 start times × 11 openings × 8 queues of 10, audited."""
    rec, truth = demo_truth
    result = audit(run_sessions(rec, truth, event=_event), truth)
    print("\nreason audit:", json.dumps(result.summary(), indent=1))
    return result


def test_every_reason_parses_and_names_true_evidence(reason_audit: Audit) -> None:
    """Each reason is one of the documented kinds, and every track, mood, time or request it names is real."""
    assert reason_audit.picks == len(START_TIMES) * len(OPENINGS) * DECISIONS * QUEUE
    assert reason_audit.unparsed == []
    assert reason_audit.false_evidence == []


def test_direction_words_agree_with_the_designed_change(reason_audit: Audit) -> None:
    """'a step calmer than X' means calmer than X by the catalog's designed energy, at least 95 % of the time."""
    assert reason_audit.direction_words >= 50
    assert reason_audit.direction_agree / reason_audit.direction_words >= 0.95


def test_no_reason_contradicts_the_request(reason_audit: Audit) -> None:
    """Under a request no reason moves against it ('livelier' under 'calmer', 'calmer' under 'party')."""
    assert reason_audit.contradictions == []


def test_reasons_vary_within_and_across_queues(reason_audit: Audit) -> None:
    """A queue of ten reads at least six different reasons on average, and no one reason dominates."""
    summary = reason_audit.summary()
    assert summary["distinct_per_queue"] >= 6.0
    top_share = reason_audit.texts.most_common(1)[0][1] / reason_audit.picks
    assert top_share <= 0.1
    assert {"step", "resembles", "avoids", "mood", "context", "request", "character"} <= set(
        reason_audit.kinds
    )


def test_morning_and_late_evening_get_different_picks(
    demo_truth: tuple[Recommender, dict[str, dict[str, Any]]],
) -> None:
    """A new listener at 07:00 and at 23:00 on the same weekday gets different top fives, livelier in the
    morning (the prior is no longer symmetric around 15:00)."""
    rec, truth = demo_truth
    for day in (2, 3, 4, 5):  # Monday to Thursday
        tops = {}
        for hour in (7, 23):
            state = ListenerState("new", local_time=datetime(2026, 3, day, hour, 0, tzinfo=TZ), at_s=T0)
            tops[hour] = [p.track.id for p in rec.recommend(state, count=5, at_s=T0).picks]
        assert len(set(tops[7]) & set(tops[23])) <= 2
        morning, night = (sum(truth[t]["energy"] for t in tops[h]) / 5 for h in (7, 23))
        assert morning > night + 0.05


def test_a_listeners_usual_energy_is_named_from_their_own_history(
    demo_truth: tuple[Recommender, dict[str, dict[str, Any]]],
) -> None:
    """After a dozen Friday evenings of playing lively tracks through (replayed from the log with the
    library), a silent Friday-evening session is steered by that habit and says so, truthfully."""
    from player.core.records import LogEvent
    from player.core.replay import replay

    rec, truth = demo_truth
    library = {str(t.id): t for t in rec.catalog.tracks}
    habit = sorted(library, key=lambda t: abs(truth[t]["energy"] - 0.75))[:24]
    events: list[LogEvent] = []
    for week in range(12):
        at = T0 - (12 - week) * 7 * 86400.0
        local = datetime(2026, 3, 6, 19, 0, tzinfo=TZ) - timedelta(days=7 * (12 - week))
        events.append(LogEvent("session_start", "fri", f"s{week}", at, local_time=local.isoformat()))
        for i, tid in enumerate(habit[2 * week : 2 * week + 2]):
            start = at + 60.0 + 300.0 * i
            events.append(LogEvent("started", "fri", f"s{week}", start, track_id=tid, position_s=0.0))
            end = library[tid].duration_s
            events.append(LogEvent("completed", "fri", f"s{week}", start + end, track_id=tid, position_s=end))
    events.append(LogEvent("session_start", "fri", "now", T0, local_time="2026-03-06T19:30:00+01:00"))
    state = replay("fri", events, tracks=library)
    assert state is not None
    assert state.prior_at(T0).energy > time_of_day_energy(state, T0) + 0.05
    picks = rec.recommend(state, count=10, at_s=T0 + 1).picks
    usual = [p for p in picks if p.reason == "your usual Friday-evening energy"]
    assert usual
    habit_energy = sum(truth[t]["energy"] for t in habit) / len(habit)
    assert all(abs(truth[p.track.id]["energy"] - habit_energy) <= 0.2 for p in usual)


def time_of_day_energy(state: ListenerState, at_s: float) -> float:
    """The population's time-of-day energy at the listener's local time."""
    from player.core.listener import time_of_day_prior

    return time_of_day_prior(state.local_time(at_s)).energy
