"""Reasons a listener can read: each one true of its pick, and naming its evidence.

A queue's reasons are written together, after re-ranking (:func:`explain_queue`), so that they vary
within the queue. Each pick is compared with the track before it (the previous pick; for the first
pick, the track started last) and with the active request's goal. The kinds, each used only when it
holds:

- **step** — "a step calmer than *Salt Tides*" (with a request: "…, toward your 'calmer' request").
  The direction word (calmer / livelier on energy, brighter / darker on valence) is the sign of the
  change from the track before. It is used only when that change is larger than the extractor's error
  on that axis (:data:`ENERGY_STEP_MIN`, :data:`VALENCE_STEP_MIN`), with a request only in the
  request's direction, and without one only when the step brings the queue closer to the target.
- **request** — "at your 'party' request" / "part way to your 'party' request", from the pick's
  progress from where the listener was when they asked toward the goal (no direction word).
- **again** — "you liked this one before" / "you played this one through before".
- **resembles** — "like *Paper Harbour*, which you played through" (or "liked"): a recent positive
  whose timbre vector is close (cosine ≥ :data:`RESEMBLANCE_MIN`).
- **avoids** — "unlike *Neon Static*, which you skipped" (or "disliked"): a recent early skip or
  dislike whose timbre vector is far (cosine ≤ :data:`AVOID_MAX`) and which sits away from the pick
  on the valence/energy plane.
- **artist** — "more from *Hollow Pines*, whose *Salt Tides* you liked": a recent positive by the
  pick's artist.
- **mood** — "suits your tense mood": a reading heard within :data:`MOOD_REASON_S`, not neutral, and
  the pick near the mood.
- **character** — "gentle and dark, for your 'sleep' request" (or "for your tired mood", "for a
  Tuesday night"): the pick's own measured character, about two measurement errors past the words'
  meaning (energy ≤ 0.3 gentle, ≥ 0.7 driving; valence ≤ 0.2 dark, ≥ 0.8 bright), named only when
  the target lies on the same side.
- **context** — "your usual Friday-evening energy" when the listener's own time-of-day prior holds
  most of the evidence (:meth:`~player.core.listener.ListenerState.prior_evidence`), else "fits a
  Friday evening"; the pick's energy must be near that prior's.
- **tempo** — "close to the tempo of *X*": measured tempo within 2 % of the track before (half and
  double time count as the same pulse), both with a clear beat (beat strength ≥ 0.7; the tempo of a
  beatless pad means little).
- **new** / **near** / **change** / **moment** — fallbacks: "new to you, from *Tessellate*" (never
  started by this listener), "close to where you are now", "a change of sound after *X*", "picked
  for right now".

Among the kinds that hold, a pick gets the one with the highest priority, less :data:`REUSE_PENALTY`
for each earlier use of that kind in the queue; no text is used twice in a queue while another holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from player.core.listener import EARLY_SKIP_S, ActiveIntent, ListenerState, Target
from player.core.ranking.context import Catalog, DecisionContext, tempo_step
from player.core.ranking.schema import DESCRIPTOR_COLUMNS, FEATURE_OFFSETS, FEATURE_SCALES

__all__ = [
    "AVOID_MAX",
    "ENERGY_STEP_MIN",
    "MOOD_REASON_S",
    "RESEMBLANCE_MIN",
    "REUSE_PENALTY",
    "VALENCE_STEP_MIN",
    "daypart",
    "explain_queue",
]

ENERGY_STEP_MIN = 0.1
"""Smallest energy change called calmer/livelier: about twice the extractor's energy error (the
residual of measured vs designed energy on the demo catalog has σ ≈ 0.045, docs/ranking.md)."""
VALENCE_STEP_MIN = 0.2
"""Smallest valence change called brighter/darker: valence is measured less well (σ ≈ 0.10)."""
RESEMBLANCE_MIN = 0.55
"""Timbre-vector cosine from which a pick is "like" an enjoyed track (top ~15 % of pairs)."""
AVOID_MAX = -0.3
"""Timbre-vector cosine up to which a pick is "unlike" a skipped track (bottom ~25 % of pairs)."""
NEAR = 0.15
"""Valence/energy distance within which a pick "suits" the mood or is "close to where you are"."""
NEAR_ENERGY = 0.1
"""Energy difference within which a pick fits the time-of-day prior."""
MOOD_REASON_S = 30 * 60.0
"""A mood reading older than this is not named in a reason (the mood has relaxed since)."""
REQUEST_AXIS_MIN = 0.08
"""A request moves an axis when its goal is at least this far from where the listener was."""
GENTLE_MAX = 0.3
"""Measured energy up to which a track is called gentle (≈ 0.4 less two measurement errors)."""
DRIVING_MIN = 0.7
"""Measured energy from which a track is called driving (≈ 0.6 plus two measurement errors)."""
DARK_MAX = 0.2
"""Measured valence up to which a track is called dark (0.4 less two measurement errors)."""
BRIGHT_MIN = 0.8
"""Measured valence from which a track is called bright (0.6 plus two measurement errors)."""
SAME_PULSE_MAX = 0.03
"""Folded |log2 tempo ratio| up to which two tracks are close in tempo (about 2 %)."""
CLEAR_BEAT_MIN = 0.7
"""Beat strength from which a track's measured tempo is trusted in a reason."""
_BEAT = DESCRIPTOR_COLUMNS.index("beat_strength")
REUSE_PENALTY = 2.5
"""Priority lost by a kind for each earlier use in the same queue."""

_ENERGY_WORDS = ("calmer", "livelier")
_VALENCE_WORDS = ("darker", "brighter")
_PARTS_OF_DAY = ((5, "morning"), (12, "afternoon"), (17, "evening"), (22, "night"))
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class _Candidate:
    kind: str
    priority: float
    text: str


@dataclass(frozen=True, slots=True)
class _Evidence:
    """What the state says, read once per queue."""

    intent: ActiveIntent | None
    request_dir: tuple[int, int]
    """Sign of the request's move on (valence, energy); 0 where it does not move that axis."""
    mood: Target
    mood_label: str | None
    prior: Target
    prior_own: bool
    day_part: str
    positives: list[tuple[int, str]]
    """(catalog row, "liked" | "played through"), newest first."""
    negatives: list[tuple[int, str]]
    """(catalog row, "skipped" | "disliked") of recent early skips and dislikes, newest first."""
    just_rejected: bool
    """The newest outcome was an early skip or a dislike."""
    again: dict[int, str]
    """Rows the listener enjoyed before: row → "liked" | "played through"."""
    started: frozenset[int]
    """Rows the listener ever started."""


def daypart(local: datetime) -> tuple[str, str]:
    """``("Tuesday", "morning")`` for a local time: morning 5–12, afternoon 12–17, evening 17–22,
    night 22–5; the small hours belong to the night before (Wednesday 02:00 is Tuesday night)."""
    part = "night"
    for start, name in _PARTS_OF_DAY:
        if local.hour >= start:
            part = name
    day = local.weekday() if local.hour >= _PARTS_OF_DAY[0][0] else (local.weekday() - 1) % 7
    return _DAYS[day], part


def _day_part(state: ListenerState, at_s: float) -> str:
    """'Friday evening': client-local, the small hours named after the night they belong to."""
    return " ".join(daypart(state.local_time(at_s)))


def _read(state: ListenerState, catalog: Catalog, at_s: float) -> _Evidence:
    row = catalog.row
    intent = state.active_intent(at_s)
    request_dir = (0, 0)
    if intent is not None:
        dv = intent.goal.valence - intent.anchor.valence
        de = intent.goal.energy - intent.anchor.energy
        request_dir = (
            0 if abs(dv) < REQUEST_AXIS_MIN else (1 if dv > 0 else -1),
            0 if abs(de) < REQUEST_AXIS_MIN else (1 if de > 0 else -1),
        )
    heard = state.mood_heard_at_s
    recent_reading = heard is not None and at_s - heard <= MOOD_REASON_S
    label = state.mood_label if recent_reading and state.mood_label not in (None, "neutral") else None

    def enjoyed(track_id: str) -> str:
        stats = state.track_stats.get(track_id)
        return "liked" if stats is not None and stats.likes > 0 else "played through"

    positives = [(row[t], enjoyed(t)) for t, _ in state.positives() if t in row]
    negatives = []
    for t, weight in state.negatives():
        stats = state.track_stats.get(t)
        if t in row and weight >= 1.0:  # early skips and dislikes only
            negatives.append((row[t], "disliked" if stats is not None and stats.dislikes > 0 else "skipped"))
    outcomes = state.outcomes(1)
    just_rejected = bool(outcomes) and (
        outcomes[0].kind == "disliked"
        or (outcomes[0].kind == "skipped" and outcomes[0].position_s < EARLY_SKIP_S)
    )
    again = {
        row[t]: ("liked" if s.likes > 0 else "played through")
        for t, s in state.track_stats.items()
        if t in row and (s.likes > 0 or s.completions > 0) and s.dislikes == 0
    }
    started = frozenset(row[t] for t, s in state.track_stats.items() if t in row and s.plays > 0)
    return _Evidence(
        intent=intent,
        request_dir=request_dir,
        mood=state.mood_at(at_s),
        mood_label=label,
        prior=state.prior_at(at_s),
        prior_own=state.prior_evidence(at_s) >= 0.5,
        day_part=_day_part(state, at_s),
        positives=positives,
        negatives=negatives,
        just_rejected=just_rejected,
        again=again,
        started=started,
    )


def _step_words(
    catalog: Catalog, row: int, prev: int, target: Target, request_dir: tuple[int, int], requested: bool
) -> list[str]:
    """Direction words that truthfully describe the step from ``prev`` to ``row``, largest first."""
    out: list[tuple[float, str]] = []
    axes = (
        (float(catalog.valence[row]), float(catalog.valence[prev]), target.valence, VALENCE_STEP_MIN, 0),
        (float(catalog.energy[row]), float(catalog.energy[prev]), target.energy, ENERGY_STEP_MIN, 1),
    )
    for now, before, goal, margin, axis in axes:
        delta = now - before
        if abs(delta) < margin:
            continue
        sign = 1 if delta > 0 else -1
        if requested:
            if request_dir[axis] != sign:  # never a word against the request (nor beside it)
                continue
        elif abs(now - goal) >= abs(before - goal):  # the step must bring the queue closer
            continue
        words = _VALENCE_WORDS if axis == 0 else _ENERGY_WORDS
        out.append((abs(delta) / margin, words[1] if sign > 0 else words[0]))
    return [w for _, w in sorted(out, reverse=True)]


def _candidates(
    catalog: Catalog,
    ev: _Evidence,
    row: int,
    prev: int | None,
    target: Target,
) -> list[_Candidate]:
    cat = catalog
    title = cat.tracks
    point = Target(float(cat.valence[row]), float(cat.energy[row]))
    out: list[_Candidate] = []
    requested = ev.intent is not None
    if prev is not None and prev != row:
        words = _step_words(cat, row, prev, target, ev.request_dir, requested)
        if words:
            text = f"a step {words[0]} than {title[prev].title}"
            if ev.intent is not None:
                text += f", toward your '{ev.intent.label}' request"
            out.append(_Candidate("step", 5.0 if requested else 2.9, text))
    if ev.intent is not None:
        a, g = ev.intent.anchor, ev.intent.goal
        span2 = (g.valence - a.valence) ** 2 + (g.energy - a.energy) ** 2
        if span2 < 0.05**2:
            progress = 1.0 if point.distance(g) <= NEAR else 0.0
        else:
            progress = (
                (point.valence - a.valence) * (g.valence - a.valence)
                + (point.energy - a.energy) * (g.energy - a.energy)
            ) / span2
        if progress >= 0.8 and point.distance(g) <= NEAR:
            out.append(_Candidate("request", 4.0, f"at your '{ev.intent.label}' request"))
        elif progress >= 0.25:
            out.append(_Candidate("request", 4.0, f"part way to your '{ev.intent.label}' request"))
    if row in ev.again:
        verb = "liked this one" if ev.again[row] == "liked" else "played this one through"
        out.append(_Candidate("again", 3.5, f"you {verb} before"))
    liked = [(r, how) for r, how in ev.positives if r != row]
    if liked:
        sims = cat.taste[np.array([r for r, _ in liked])] @ cat.taste[row]
        best = int(np.argmax(sims))
        if float(sims[best]) >= RESEMBLANCE_MIN:
            ref, how = liked[best]
            out.append(
                _Candidate(
                    "resembles",
                    3.2 if how == "liked" else 3.0,
                    f"like {title[ref].title}, which you {how}",
                )
            )
    rejected = [(r, how) for r, how in ev.negatives if r != row]
    if rejected:
        for ref, how in rejected[:3]:  # the most recent ones
            far = Target(float(cat.valence[ref]), float(cat.energy[ref])).distance(point) >= ENERGY_STEP_MIN
            if far and float(cat.taste[ref] @ cat.taste[row]) <= AVOID_MAX:
                priority = 4.5 if ev.just_rejected and not requested else 2.8
                out.append(_Candidate("avoids", priority, f"unlike {title[ref].title}, which you {how}"))
                break
    same_artist = [(r, how) for r, how in liked if cat.artist[r] == cat.artist[row]]
    if same_artist:
        ref, how = same_artist[0]
        artist = title[row].artist
        out.append(_Candidate("artist", 2.7, f"more from {artist}, whose {title[ref].title} you {how}"))
    if ev.mood_label is not None and point.distance(ev.mood) <= NEAR:
        out.append(_Candidate("mood", 2.6, f"suits your {ev.mood_label} mood"))
    character = _character(point, target)
    if character:
        if ev.intent is not None:
            purpose = f"your '{ev.intent.label}' request"
        elif ev.mood_label is not None:
            purpose = f"your {ev.mood_label} mood"
        else:
            purpose = f"a {ev.day_part}"
        out.append(_Candidate("character", 2.2, f"{character}, for {purpose}"))
    if not requested and ev.mood_label is None and abs(point.energy - ev.prior.energy) <= NEAR_ENERGY:
        if ev.prior_own:
            text = f"your usual {ev.day_part.replace(' ', '-')} energy"
        else:
            text = f"fits a {ev.day_part}"
        out.append(_Candidate("context", 2.4, text))
    if (
        prev is not None
        and prev != row
        and min(_beat_strength(cat, row), _beat_strength(cat, prev)) >= CLEAR_BEAT_MIN
    ):
        step = float(tempo_step(cat.tempo_bpm[row : row + 1], float(cat.tempo_bpm[prev]))[0])
        if step <= SAME_PULSE_MAX:
            out.append(_Candidate("tempo", 1.0, f"close to the tempo of {title[prev].title}"))
    if row not in ev.started:
        out.append(_Candidate("new", 0.4, f"new to you, from {title[row].artist}"))
    if not requested and point.distance(target) <= NEAR:
        out.append(_Candidate("near", 0.5, "close to where you are now"))
    if prev is not None and prev != row and float(cat.taste[prev] @ cat.taste[row]) < 0.2:
        out.append(_Candidate("change", 0.3, f"a change of sound after {title[prev].title}"))
    out.append(_Candidate("moment", 0.0, "picked for right now"))
    return out


def _beat_strength(catalog: Catalog, row: int) -> float:
    scaled = float(catalog.descriptors[row, _BEAT])
    return scaled * float(FEATURE_SCALES[_BEAT]) + float(FEATURE_OFFSETS[_BEAT])


def _character(point: Target, target: Target) -> str:
    """Words for the pick's own character that point the way the target does ('' if none)."""
    words = []
    if point.energy <= GENTLE_MAX and target.energy <= 0.4:
        words.append("gentle")
    elif point.energy >= DRIVING_MIN and target.energy >= 0.6:
        words.append("driving")
    if point.valence <= DARK_MAX and target.valence <= 0.4:
        words.append("dark")
    elif point.valence >= BRIGHT_MIN and target.valence >= 0.6:
        words.append("bright")
    return " and ".join(words)


def explain_queue(
    state: ListenerState,
    catalog: Catalog,
    ctx: DecisionContext,
    rows: Sequence[int],
    targets: Sequence[Target],
    *,
    at_s: float,
) -> list[str]:
    """One reason per pick of a queue (``rows`` in queue order, ``targets`` their walk targets).

    Pure: reads ``state`` at ``at_s`` and the catalog's measured valence, energy and timbre.
    """
    ev = _read(state, catalog, at_s)
    used_kinds: dict[str, int] = {}
    used_texts: set[str] = set()
    out: list[str] = []
    prev = ctx.last_row
    for k, row in enumerate(rows):
        target = targets[k] if k < len(targets) else targets[-1]
        options = _candidates(catalog, ev, int(row), prev, target)
        fresh = [c for c in options if c.text not in used_texts] or options
        best = max(fresh, key=lambda c: c.priority - REUSE_PENALTY * used_kinds.get(c.kind, 0))
        used_kinds[best.kind] = used_kinds.get(best.kind, 0) + 1
        used_texts.add(best.text)
        out.append(best.text)
        prev = int(row)
    return out
