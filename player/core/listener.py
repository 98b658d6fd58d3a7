"""The listener's state: smoothed mood, intents, time of day, device and play history.

Pure: nothing here reads a clock. Every call takes ``at_s`` (server unix seconds) and the client's
own local time is passed in as an aware :class:`~datetime.datetime` (the server's clock is not the
listener's). The session feeds mood estimates and playback events in; the ranker reads
:meth:`ListenerState.targets` and the history.

Where the listener is
---------------------
The state's *mood* is its belief about where the listener is on the valence/energy plane, and every
kind of evidence moves it:

- a mood reading moves each axis by ``MOOD_GAIN`` × that axis's confidence of the way to the reading
  (:attr:`mood.types.MoodEstimate.axis_confidences`): a clear, confident statement moves it most of
  the way at once, an axis the reading has no evidence for (confidence 0) not at all;
- playback of a track whose valence/energy the event carries (:class:`PlaybackEvent`): an early skip
  or a dislike pushes the mood away from the track (the listener is not *there*; the push fades with
  the track's distance, :data:`SKIP_REACH`), a late skip pushes less, a completion pulls toward it and
  a like pulls more;
- without input the mood relaxes exponentially (time constant :data:`MOOD_RELAX_S`) toward the
  time-of-day prior (:meth:`ListenerState.prior_at`).

The time-of-day prior starts as the population's (:func:`time_of_day_prior`: energy rises in the
morning, falls at night, and the weekend runs later) and is learned per listener from their own
completions (the energy of what they played through at each local hour, weekday or weekend), shrunk
toward the population prior by :data:`TOD_PRIOR_STRENGTH` pseudo-completions until there is enough
history of their own.

Target and the iso principle
----------------------------
By default the target for the next tracks *meets* the listener's mood. An explicit intent ("calmer",
"energize", "sleep", ...) sets a goal, and the queue walks there over :data:`ISO_STEPS` tracks instead
of jumping: the iso principle of music therapy (Altshuler, 1948; Heiderscheit & Madson, 2015): first
match the listener's current state, then lead it step by step. The walk starts from where the
listener is *now*: step ``k`` sits ``(done + k + 1) / ISO_STEPS`` of the way from the current mood to
the goal, so a skip or a new reading during the walk moves the rest of it. ``targets(n)`` returns the
per-position targets of the next ``n`` tracks; they move monotonically toward the goal and stay there
until the intent expires.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mood.types import Intent, MoodEstimate
from player.core.records import PLAYBACK_KINDS, PlaybackKind

__all__ = [
    "COMPLETION_PULL",
    "EARLY_SKIP_PUSH",
    "EARLY_SKIP_S",
    "HISTORY_CAP",
    "ISO_STEPS",
    "LATE_SKIP_PUSH",
    "LIKE_PULL",
    "MOOD_GAIN",
    "MOOD_RELAX_S",
    "MUSIC_INTENTS",
    "PLAYBACK_KINDS",
    "SKIP_REACH",
    "TOD_PRIOR_STRENGTH",
    "ActiveIntent",
    "HistoryEntry",
    "ListenerState",
    "PlaybackEvent",
    "PlaybackKind",
    "Target",
    "TrackStats",
    "intent_goal",
    "is_weekend",
    "time_of_day_prior",
]

logger = logging.getLogger(__name__)


EARLY_SKIP_S = 30.0
"""A skip before this position (seconds into the track) is an early skip: a strong "not this"."""
HISTORY_CAP = 1000
"""History entries kept, newest first (Mopidy keeps (timestamp, ref) pairs the same way)."""
ISO_STEPS = 4
"""Tracks the queue takes to walk from the listener's mood to an intent's goal."""
MOOD_GAIN = 0.9
"""Share of the way to a fully confident reading the mood moves, per axis (× that axis's confidence):
a statement read with confidence 0.8 moves the mood 72 % of the way at once."""
COMPLETION_PULL = 0.15
"""Share of the way to a track played through that the mood moves toward it."""
LIKE_PULL = 0.3
"""Share of the way to a liked track that the mood moves toward it."""
EARLY_SKIP_PUSH = 0.12
"""How far (on the 0–1 plane) an early skip or a dislike of a track right at the mood pushes the mood
away from it; the push shrinks linearly to 0 at :data:`SKIP_REACH`."""
LATE_SKIP_PUSH = 0.04
"""The same for a late skip: the listener heard enough of it to have liked some of it."""
SKIP_REACH = 0.5
"""A skipped track this far from the mood (or farther) says nothing about where the listener is."""
TOD_PRIOR_STRENGTH = 6.0
"""Pseudo-completions the population's time-of-day prior counts for at each hour: with fewer of the
listener's own completions near an hour, the prior there stays mostly the population's."""
_TOD_KERNEL_H = 1.5
"""Width (σ, hours) of the circular Gaussian that spreads a completion over neighbouring hours."""
_TOD_OTHER_DAY_WEIGHT = 0.25
"""Weight of a weekday completion for the weekend prior, and the other way round."""
_NIGHT_BELONGS_TO_PREVIOUS_DAY_H = 5
"""Local hours before this belong to the previous day (Sunday 02:00 is Saturday night)."""
MOOD_RELAX_S = 20 * 60.0
"""Time constant of the drift back to the time-of-day prior without new input, seconds."""

MUSIC_INTENTS: tuple[str, ...] = ("calmer", "energize", "focus", "workout", "sleep", "party", "cheer_up")
"""Intent kinds that move the target; skip/like/stop are player commands the session handles."""

_INTENT_LIFETIME_S: dict[str, float] = {
    "calmer": 30 * 60.0,
    "energize": 30 * 60.0,
    "cheer_up": 30 * 60.0,
    "focus": 90 * 60.0,
    "workout": 60 * 60.0,
    "sleep": 45 * 60.0,
    "party": 90 * 60.0,
}
"""How long an intent steers the queue after it was expressed, seconds."""

# Absolute goals (valence, energy) of the activity intents; the mood-relative ones are in intent_goal.
_ABSOLUTE_GOALS: dict[str, tuple[float, float]] = {
    "focus": (0.5, 0.4),
    "workout": (0.65, 0.9),
    "sleep": (0.4, 0.1),
    "party": (0.8, 0.85),
}


def _clip(x: float, lo: float = 0.02, hi: float = 0.98) -> float:
    return min(hi, max(lo, x))


@dataclass(frozen=True, slots=True)
class Target:
    """A point on the shared 0–1 valence/energy scale (0.5 neutral) that tracks should sit near."""

    valence: float
    """0–1: unpleasant … pleasant."""
    energy: float
    """0–1: calm … intense."""

    def to_dict(self) -> dict[str, float]:
        return {"valence": round(self.valence, 4), "energy": round(self.energy, 4)}

    def distance(self, other: Target) -> float:
        """Euclidean distance on the valence/energy plane."""
        return math.hypot(self.valence - other.valence, self.energy - other.energy)


@dataclass(frozen=True, slots=True)
class PlaybackEvent:
    """Something the listener's player did with a track."""

    kind: PlaybackKind
    track_id: str
    position_s: float
    """Seconds into the track when it happened (0 for ``started``)."""
    at_s: float
    """Server unix time, seconds."""
    track_valence: float | None = None
    """The track's valence, 0–1 (None: unknown; the event then does not move the mood)."""
    track_energy: float | None = None
    """The track's energy, 0–1 (None: unknown)."""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One playback event in the history (newest first, capped at :data:`HISTORY_CAP`)."""

    at_s: float
    track_id: str
    kind: PlaybackKind
    position_s: float


@dataclass(slots=True)
class TrackStats:
    """This listener's counts for one track (or, aggregated by the ranker, one artist)."""

    plays: int = 0
    completions: int = 0
    skips: int = 0
    early_skips: int = 0
    likes: int = 0
    dislikes: int = 0
    repeats: int = 0
    """Starts of a track that had been started before."""
    last_played_s: float | None = None
    """Server time of the last start, seconds."""


@dataclass(frozen=True, slots=True)
class ActiveIntent:
    """An explicit request steering the target until ``expires_at_s``."""

    kind: str
    strength: float
    """0–1, as the mood layer read it."""
    phrase: str
    started_at_s: float
    expires_at_s: float
    anchor: Target
    """The listener's mood when they asked (the walk itself starts from the mood at each decision)."""
    goal: Target

    @property
    def label(self) -> str:
        """What to call it in a reason: the listener's words if we have them."""
        return self.phrase or self.kind.replace("_", " ")


# The population's energy by local hour (value at hh:00, linear in between, 23:00 → 00:00 wraps).
# The broad shape of circadian alertness and of the arousal of what people stream by hour (Park,
# Thom, Mennicken, Cramer & Macy, 2019, Nature Human Behaviour 3:230–236): lowest before dawn,
# rising steeply in the morning, high through the afternoon and early evening, falling late at
# night; at weekends the morning rise comes two to three hours later and the evening stays up longer.
_WEEKDAY_ENERGY = (
    0.29, 0.26, 0.24, 0.22, 0.22, 0.26, 0.38, 0.50, 0.57, 0.61, 0.63, 0.63,
    0.62, 0.60, 0.60, 0.62, 0.64, 0.66, 0.65, 0.61, 0.55, 0.48, 0.40, 0.33,
)  # fmt: skip
_WEEKEND_ENERGY = (
    0.38, 0.33, 0.28, 0.25, 0.23, 0.22, 0.23, 0.27, 0.34, 0.42, 0.50, 0.56,
    0.59, 0.60, 0.61, 0.62, 0.63, 0.64, 0.65, 0.66, 0.65, 0.61, 0.54, 0.46,
)  # fmt: skip
_WEEKDAY_VALENCE = 0.55
_WEEKEND_VALENCE = 0.58


def is_weekend(local_time: datetime) -> bool:
    """Saturday or Sunday, counting the small hours as the night before (Monday 02:00 is Sunday's)."""
    shifted = local_time - timedelta(hours=_NIGHT_BELONGS_TO_PREVIOUS_DAY_H)
    return shifted.weekday() >= 5


def _hour(local_time: datetime) -> float:
    return local_time.hour + local_time.minute / 60.0 + local_time.second / 3600.0


def _curve(values: tuple[float, ...], hour: float) -> float:
    lo = int(hour) % 24
    frac = hour - math.floor(hour)
    return values[lo] + (values[(lo + 1) % 24] - values[lo]) * frac


def time_of_day_prior(local_time: datetime) -> Target:
    """The population's mood at this local time, with nothing known about the listener.

    Energy follows a daily curve (weekday 03:00 → 0.22, 07:00 → 0.50, 17:00 → 0.66, 23:00 → 0.33;
    weekends later); valence is near neutral, a little higher at weekends.
    """
    weekend = is_weekend(local_time)
    energy = _curve(_WEEKEND_ENERGY if weekend else _WEEKDAY_ENERGY, _hour(local_time))
    return Target(valence=_WEEKEND_VALENCE if weekend else _WEEKDAY_VALENCE, energy=energy)


def _hour_distance(a: float, b: float) -> float:
    d = abs(a - b) % 24.0
    return min(d, 24.0 - d)


@dataclass(slots=True)
class _HourlyEnergy:
    """The energy of the tracks a listener played through, summed per (weekday/weekend, local hour)."""

    sums: list[list[float]] = field(default_factory=lambda: [[0.0] * 24, [0.0] * 24])
    counts: list[list[float]] = field(default_factory=lambda: [[0.0] * 24, [0.0] * 24])
    total: int = 0

    def add(self, local_time: datetime, energy: float) -> None:
        day = 1 if is_weekend(local_time) else 0
        self.sums[day][local_time.hour] += energy
        self.counts[day][local_time.hour] += 1.0
        self.total += 1

    def near(self, local_time: datetime) -> tuple[float, float]:
        """``(weighted energy sum, weighted count)`` of completions near this local hour and day type."""
        if self.total == 0:
            return 0.0, 0.0
        hour = _hour(local_time)
        day = 1 if is_weekend(local_time) else 0
        energy_sum = count = 0.0
        for d in (0, 1):
            day_weight = 1.0 if d == day else _TOD_OTHER_DAY_WEIGHT
            for h in range(24):
                n = self.counts[d][h]
                if n == 0.0:
                    continue
                w = day_weight * math.exp(-0.5 * (_hour_distance(hour, h + 0.5) / _TOD_KERNEL_H) ** 2)
                energy_sum += w * self.sums[d][h]
                count += w * n
        return energy_sum, count


def intent_goal(kind: str, strength: float, mood: Target) -> Target:
    """Where an intent leads from ``mood``: relative moves for calmer/energize/cheer_up, fixed
    activity points (blended toward by ``strength``) for focus/workout/sleep/party."""
    s = min(1.0, max(0.0, strength))
    if kind == "calmer":
        return Target(_clip(mood.valence + 0.05), _clip(mood.energy - (0.25 + 0.2 * s), 0.05))
    if kind == "energize":
        return Target(_clip(mood.valence + 0.05), _clip(mood.energy + (0.25 + 0.2 * s), hi=0.95))
    if kind == "cheer_up":
        return Target(_clip(mood.valence + 0.3 + 0.15 * s, hi=0.95), _clip(mood.energy + 0.1))
    if kind in _ABSOLUTE_GOALS:
        v, e = _ABSOLUTE_GOALS[kind]
        w = 0.6 + 0.4 * s
        return Target(mood.valence + (v - mood.valence) * w, mood.energy + (e - mood.energy) * w)
    raise ValueError(f"intent {kind!r} does not move the target")


@dataclass(slots=True)
class _Clock:
    """The client's local time anchored to a server time (so later local times are derived)."""

    local_time: datetime
    at_s: float

    def at(self, at_s: float) -> datetime:
        return self.local_time + timedelta(seconds=at_s - self.at_s)


class ListenerState:
    """Everything the player knows about one listener, updated by events, read by the ranker.

    Attributes read by the ranker: ``listener_id``, ``device``, ``mood_label``, ``history`` (newest
    first), ``track_stats`` (per track id), ``session_position`` (tracks started since the state
    was created or :meth:`start_session`), plus the methods below.
    """

    def __init__(
        self, listener_id: str, *, local_time: datetime, at_s: float, device: str | None = None
    ) -> None:
        if local_time.tzinfo is None:
            raise ValueError("local_time must be timezone-aware (the client's own offset)")
        self.listener_id = listener_id
        self.device = device
        self._clock = _Clock(local_time, at_s)
        self._hourly = _HourlyEnergy()
        self._mood = time_of_day_prior(local_time)
        self._mood_at_s = at_s
        self.mood_label: str | None = None
        """The label of the last mood estimate (None before the first)."""
        self.mood_observations = 0
        self.mood_heard_at_s: float | None = None
        """Server time of the last mood reading (None before the first)."""
        self.mood_heard_firmness = 0.0
        """How firmly the last reading said where the listener is or wants to be: its larger axis
        confidence, 1 when it carried a music request (0 before the first)."""
        self.finished_plays = 0
        """Completions and skips observed, every session (how much the player knows of the taste)."""
        self.rejected_since_heard = 0
        """Early skips and dislikes since the last mood reading (the listener turning down what was
        chosen for it)."""
        self._intent: ActiveIntent | None = None
        self._tracks_since_intent = 0
        self.history: deque[HistoryEntry] = deque(maxlen=HISTORY_CAP)
        self.track_stats: dict[str, TrackStats] = {}
        self.session_position = 0
        self.session_started_s = at_s
        self._current_track: str | None = None

    # ----------------------------------------------------------------- time and session
    def set_local_time(self, local_time: datetime, *, at_s: float) -> None:
        """The client told us its local time (at session start or after a timezone change)."""
        if local_time.tzinfo is None:
            raise ValueError("local_time must be timezone-aware (the client's own offset)")
        self._clock = _Clock(local_time, at_s)

    def start_session(self, local_time: datetime, *, at_s: float, device: str | None = None) -> None:
        """A new listening session of the same listener: keeps history, resets the session position."""
        self.set_local_time(local_time, at_s=at_s)
        if device is not None:
            self.device = device
        self.session_position = 0
        self.session_started_s = at_s
        self._current_track = None

    def local_time(self, at_s: float) -> datetime:
        """The listener's local time at server time ``at_s``."""
        return self._clock.at(at_s)

    # ----------------------------------------------------------------- the time-of-day prior
    def prior_at(self, at_s: float) -> Target:
        """The mood expected of this listener at the local time of ``at_s`` with no other input.

        Energy: the mean energy of the listener's completions near this local hour (Gaussian over
        hours, σ 1.5 h; the other day type, weekday or weekend, counts a quarter), shrunk toward the
        population's :func:`time_of_day_prior` by :data:`TOD_PRIOR_STRENGTH` pseudo-completions.
        Valence: the population's.
        """
        local = self.local_time(at_s)
        population = time_of_day_prior(local)
        energy_sum, count = self._hourly.near(local)
        if count == 0.0:
            return population
        energy = (energy_sum + TOD_PRIOR_STRENGTH * population.energy) / (count + TOD_PRIOR_STRENGTH)
        return Target(population.valence, energy)

    def prior_evidence(self, at_s: float) -> float:
        """0–1: how much of :meth:`prior_at`'s energy is this listener's own (0: all the population's)."""
        _, count = self._hourly.near(self.local_time(at_s))
        return count / (count + TOD_PRIOR_STRENGTH)

    # ----------------------------------------------------------------- mood and intents
    def mood_at(self, at_s: float) -> Target:
        """The mood at ``at_s``, relaxed toward the time-of-day prior since the last update."""
        prior = self.prior_at(at_s)
        dt = max(0.0, at_s - self._mood_at_s)
        keep = math.exp(-dt / MOOD_RELAX_S)
        return Target(
            prior.valence + (self._mood.valence - prior.valence) * keep,
            prior.energy + (self._mood.energy - prior.energy) * keep,
        )

    @property
    def mood(self) -> Target:
        """The smoothed mood as of the last update (use :meth:`mood_at` for a later time)."""
        return self._mood

    def observe_mood(self, estimate: MoodEstimate, *, at_s: float) -> None:
        """Move each axis of the mood toward ``estimate`` by :data:`MOOD_GAIN` × that axis's
        confidence (0: that axis stays), then apply the estimate's intents."""
        current = self.mood_at(at_s)
        valence_conf, energy_conf = estimate.axis_confidences
        gain_v = MOOD_GAIN * min(1.0, max(0.0, float(valence_conf)))
        gain_e = MOOD_GAIN * min(1.0, max(0.0, float(energy_conf)))
        self._mood = Target(
            _clip(current.valence + gain_v * (float(estimate.valence) - current.valence), 0.0, 1.0),
            _clip(current.energy + gain_e * (float(estimate.energy) - current.energy), 0.0, 1.0),
        )
        self._mood_at_s = at_s
        self.mood_label = estimate.label
        self.mood_observations += 1
        self.mood_heard_at_s = at_s
        self.rejected_since_heard = 0
        requested = any(i.kind in MUSIC_INTENTS for i in estimate.intents)
        self.mood_heard_firmness = 1.0 if requested else min(1.0, max(0.0, valence_conf, energy_conf))
        for intent in estimate.intents:
            self.add_intent(intent, at_s=at_s)

    def add_intent(self, intent: Intent, *, at_s: float) -> None:
        """Steer toward ``intent`` (kinds outside :data:`MUSIC_INTENTS` are ignored here).

        The newest intent replaces any earlier one: "calmer" after "energize" means calmer now.
        """
        if intent.kind not in MUSIC_INTENTS:
            return
        anchor = self.mood_at(at_s)
        goal = intent_goal(intent.kind, float(intent.strength), anchor)
        self._intent = ActiveIntent(
            kind=intent.kind,
            strength=float(intent.strength),
            phrase=intent.phrase,
            started_at_s=at_s,
            expires_at_s=at_s + _INTENT_LIFETIME_S[intent.kind],
            anchor=anchor,
            goal=goal,
        )
        self._tracks_since_intent = 0
        logger.debug("listener %s intent %s -> goal %s", self.listener_id, intent.kind, goal)

    def active_intent(self, at_s: float) -> ActiveIntent | None:
        """The intent steering the queue at ``at_s`` (None once expired)."""
        if self._intent is not None and at_s < self._intent.expires_at_s:
            return self._intent
        return None

    @property
    def intents(self) -> tuple[ActiveIntent, ...]:
        """The intent set last (expired or not); use :meth:`active_intent` with a time."""
        return () if self._intent is None else (self._intent,)

    def cancel_intent(self) -> None:
        """Forget the current intent (the listener said "stop" or the session wants the mood back)."""
        self._intent = None

    def current_target(self, at_s: float) -> Target:
        """Where the walk stands now, before the next track (the mood if no intent)."""
        return self.targets(1, at_s=at_s)[0] if self._intent is not None else self.mood_at(at_s)

    def targets(self, count: int, *, at_s: float) -> list[Target]:
        """Targets of the next ``count`` tracks: the mood, or the iso walk toward an intent's goal.

        Step ``k`` of the walk sits at ``(done + k + 1) / ISO_STEPS`` of the way from the mood at
        ``at_s`` (where the listener is now) to the goal, ``done`` being tracks started since the
        request, so consecutive targets move monotonically toward the goal and then stay on it.
        """
        intent = self.active_intent(at_s)
        mood = self.mood_at(at_s)
        if intent is None:
            return [mood] * max(1, count)
        out = []
        for k in range(max(1, count)):
            f = min(1.0, (self._tracks_since_intent + k + 1) / ISO_STEPS)
            out.append(
                Target(
                    mood.valence + (intent.goal.valence - mood.valence) * f,
                    mood.energy + (intent.goal.energy - mood.energy) * f,
                )
            )
        return out

    def walk_done(self) -> int:
        """Tracks started since the active request (0 without one)."""
        return self._tracks_since_intent if self._intent is not None else 0

    def target(self, *, at_s: float) -> Target:
        """The target of the very next track (the first step of :meth:`targets`)."""
        return self.targets(1, at_s=at_s)[0]

    # ----------------------------------------------------------------- playback history
    def observe_playback(self, event: PlaybackEvent) -> None:
        """Record a playback event: history, per-track counts, session position, walk progress, and,
        when the event carries the track's valence and energy, the mood's move (away from an early
        skip or a dislike, a little away from a late skip, toward a completion or a like) and the
        listener's own time-of-day energy (completions)."""
        if event.kind not in PLAYBACK_KINDS:
            raise ValueError(f"unknown playback kind {event.kind!r}")
        stats = self.track_stats.setdefault(event.track_id, TrackStats())
        position_s = max(0.0, float(event.position_s))
        if event.track_valence is not None and event.track_energy is not None:
            self._move_mood(event, position_s)
        if event.kind == "started":
            if stats.plays > 0:
                stats.repeats += 1
            stats.plays += 1
            stats.last_played_s = event.at_s
            self.session_position += 1
            self._current_track = event.track_id
            if self._intent is not None:
                self._tracks_since_intent += 1
        elif event.kind == "skipped":
            self.finished_plays += 1
            stats.skips += 1
            if position_s < EARLY_SKIP_S:
                stats.early_skips += 1
                self.rejected_since_heard += 1
        elif event.kind == "completed":
            self.finished_plays += 1
            stats.completions += 1
        elif event.kind == "liked":
            stats.likes += 1
        elif event.kind == "disliked":
            stats.dislikes += 1
            self.rejected_since_heard += 1
        self.history.appendleft(HistoryEntry(event.at_s, event.track_id, event.kind, position_s))

    def _move_mood(self, event: PlaybackEvent, position_s: float) -> None:
        track = Target(float(event.track_valence or 0.0), float(event.track_energy or 0.0))
        if event.kind == "completed":
            self._hourly.add(self.local_time(event.at_s), track.energy)
        if event.kind == "started":
            return
        current = self.mood_at(event.at_s)
        if event.kind in ("completed", "liked"):
            pull = COMPLETION_PULL if event.kind == "completed" else LIKE_PULL
            moved = Target(
                current.valence + pull * (track.valence - current.valence),
                current.energy + pull * (track.energy - current.energy),
            )
        else:  # skipped or disliked: the listener is not where this track is
            early = event.kind == "disliked" or position_s < EARLY_SKIP_S
            push = (EARLY_SKIP_PUSH if early else LATE_SKIP_PUSH) * max(
                0.0, 1.0 - current.distance(track) / SKIP_REACH
            )
            away = (current.valence - track.valence, current.energy - track.energy)
            norm = math.hypot(*away)
            if push <= 0.0 or norm < 1e-6:
                return
            moved = Target(
                _clip(current.valence + push * away[0] / norm, 0.0, 1.0),
                _clip(current.energy + push * away[1] / norm, 0.0, 1.0),
            )
        self._mood = moved
        self._mood_at_s = max(self._mood_at_s, event.at_s)

    @property
    def last_track_id(self) -> str | None:
        """The most recently started track (None before the first)."""
        return self._current_track or next((h.track_id for h in self.history if h.kind == "started"), None)

    def outcomes(self, limit: int = 20) -> list[HistoryEntry]:
        """The newest ``limit`` outcome entries (skipped, completed, liked, disliked), newest first."""
        out: list[HistoryEntry] = []
        for entry in self.history:
            if entry.kind != "started":
                out.append(entry)
                if len(out) >= limit:
                    break
        return out

    def recent_skip_rate(self, window: int = 10) -> float:
        """Share of the last ``window`` finished plays that were skipped, with a weak prior (0.25)."""
        finished = [h for h in self.outcomes(4 * window) if h.kind in ("skipped", "completed")][:window]
        skips = sum(1 for h in finished if h.kind == "skipped")
        return (skips + 0.5) / (len(finished) + 2.0)

    def consecutive_early_skips(self) -> int:
        """Early skips in a row, newest first, up to the last completion."""
        n = 0
        for h in self.history:
            if h.kind == "skipped":
                if h.position_s >= EARLY_SKIP_S:
                    break
                n += 1
            elif h.kind in ("completed", "liked"):
                break
        return n

    def positives(self, limit: int = 12) -> list[tuple[str, float]]:
        """Recently enjoyed tracks with weights: liked 1.0, completed 0.6 (newest first, unique)."""
        return self._weighted({"liked": 1.0, "completed": 0.6}, limit)

    def negatives(self, limit: int = 12) -> list[tuple[str, float]]:
        """Recently rejected tracks with weights: disliked or early skip 1.0, late skip 0.4."""
        weights: dict[str, float] = {"disliked": 1.0, "skipped": 1.0}
        out: dict[str, float] = {}
        for entry in self.outcomes(4 * limit):
            if entry.kind not in weights:
                continue
            w = 1.0 if entry.kind == "disliked" or entry.position_s < EARLY_SKIP_S else 0.4
            out[entry.track_id] = max(out.get(entry.track_id, 0.0), w)
            if len(out) >= limit:
                break
        return list(out.items())

    def _weighted(self, weights: dict[str, float], limit: int) -> list[tuple[str, float]]:
        out: dict[str, float] = {}
        for entry in self.outcomes(4 * limit):
            if entry.kind in weights:
                out[entry.track_id] = max(out.get(entry.track_id, 0.0), weights[entry.kind])
                if len(out) >= limit:
                    break
        return list(out.items())

    def recently_played(self, *, at_s: float, tracks: int = 25, window_s: float = 3 * 3600.0) -> set[str]:
        """Tracks started among the last ``tracks`` starts or within ``window_s``: not to be repeated."""
        out: set[str] = set()
        n = 0
        for entry in self.history:
            if entry.kind != "started":
                continue
            n += 1
            if n > tracks and at_s - entry.at_s > window_s:
                break
            out.add(entry.track_id)
        return out

    def snapshot(self, *, at_s: float) -> dict[str, object]:
        """A JSON-ready summary for logs and debugging."""
        intent = self.active_intent(at_s)
        return {
            "listener_id": self.listener_id,
            "local_time": self.local_time(at_s).isoformat(),
            "device": self.device,
            "mood": self.mood_at(at_s).to_dict(),
            "prior": self.prior_at(at_s).to_dict(),
            "target": self.target(at_s=at_s).to_dict(),
            "intent": None if intent is None else {"kind": intent.kind, "goal": intent.goal.to_dict()},
            "session_position": self.session_position,
            "recent_skip_rate": round(self.recent_skip_rate(), 4),
        }
