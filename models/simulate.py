"""A listener simulator that judges tracks by their designed truth, in families of different forms.

The simulator is the *judge* of the evaluation, so it imports no serving code: only records
(``player.core.track``, ``player.core.records``, ``mood.types``). It never sees the features the
ranker ranks by: listeners judge tracks by the catalog's **designed** properties
(:class:`TrackTruth`, from the demo catalog's ``truth.json``), while the player ranks the same tracks
by the features the real extractor measured from their audio, so extraction error is part of the test.
The player is anything that implements :class:`Player` (``models.driver`` drives the real session
core); the simulator only hands it what a client would send and reads back queues of track ids.

Everything here is an assumption, stated so it can be argued with.

**Mood over the day.** Each listener's energy drifts toward ``base + amplitude·cos(2π(h − peak)/24)``
and valence toward a personal base, with random-walk noise; a completed track pulls the mood 10 %
toward its own valence and energy.

**Speech.** Now and then a listener says how they feel, in a generated sentence
(:func:`mood_sentence`), sometimes with a request ("something calmer please", :data:`REQUEST_PHRASES`).
For most families the player is assumed to hear the mood with Gaussian error and a confidence
(:meth:`SimListener.speak` fills ``Utterance.heard``); listeners of the ``spoken`` family leave it
empty, and the evaluation passes their sentences through the real mood reader instead.

**Requests.** After a request the listener expects the music to move from where they were toward the
request's goal (:func:`request_goal`, the simulator's own numbers) and to close half of the remaining
gap with every track (:func:`expected_after_request`): the first track already half-way, the fourth
within 7 % of the goal. After :data:`REQUEST_TRACKS` tracks the request is over and the listener's
mood is where the walk led.

**Families** (:data:`FAMILIES`), each with its own functional form from designed truth to the
probabilities of an early skip, a late skip and a like (:class:`Reactions`):

- ``timbre`` — mood distance with timbre taste: a linear utility (−distance to the wanted point, plus
  affinity along a personal direction in designed-timbre space — brightness, density, drums — plus
  per-artist bias) through logistic thresholds; a third are *lifters* who want music a little brighter
  than they feel.
- ``rules`` — hidden rules on musical properties: one or two of avoids minor keys, a tempo ceiling or
  floor, an energy ceiling, avoids bright or dark timbres. A track that breaks a rule is skipped most of
  the time whatever the mood; otherwise mood matters only weakly. Step functions, not distances.
- ``band`` — tolerance bands: anything inside a box around the wanted point (personal half-widths in
  valence and energy) is fine, and skips rise steeply with the overshoot outside it (a Chebyshev box,
  flat inside).
- ``artist`` — artist loyalty vs novelty seeking: loyal listeners have one or two favourite artists
  and skip others often; novelty seekers skip an artist heard in their last three tracks and anything
  they heard before. Hazards that multiply; mood a weak third hazard.
- ``aversions`` — smooth dislikes on the properties the ``rules`` family never uses: one or two of
  sad music (low designed valence), dense or sparse arrangements, drums or their absence, each a
  logistic ramp (not a step) in the designed value, plus mood distance. Trained on, so the ranker has
  seen listeners whose skips cluster on one musical property; the held-out ``rules`` family differs in
  its form (steps, not ramps) and in every property it uses (mode, tempo, energy, brightness).
- ``spoken`` — listeners who talk: they say how they feel at the start of every session and often
  after, their sentences go through the real mood reader, and they want music at what they said
  (a Gaussian kernel around the wanted point, energy weighted more than valence).

Every family also dislikes hearing a track again soon (a hazard for tracks played in the last 40).
The held-out family (:data:`HELDOUT_FAMILY`) is never used to make training data.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import numpy as np

from mood.types import Intent, MoodEstimate
from player.core.records import LogEvent
from player.core.track import MFCC_COUNT, NUMERIC_FEATURES, Track, TrackId

__all__ = [
    "EARLY_SKIP_S",
    "FAMILIES",
    "GAIN",
    "HELDOUT_FAMILY",
    "REQUEST_PHRASES",
    "REQUEST_TRACKS",
    "TRAIN_FAMILIES",
    "CatalogMatrix",
    "Decision",
    "Family",
    "MoodPoint",
    "Outcome",
    "Play",
    "Player",
    "Reactions",
    "RequestKind",
    "SimListener",
    "TrackTruth",
    "TruthCatalog",
    "Utterance",
    "catalog_matrix",
    "draw_listeners",
    "expected_after_request",
    "mood_sentence",
    "request_goal",
    "run_listener",
    "simulate_log",
    "synthetic_catalog",
    "truth_from_demo",
    "truth_from_tracks",
]

logger = logging.getLogger(__name__)

Family = Literal["timbre", "rules", "band", "artist", "spoken", "aversions"]
FAMILIES: tuple[Family, ...] = get_args(Family)
HELDOUT_FAMILY: Family = "rules"
"""Never used for training: its functional form (step functions on musical properties) is unlike any
trained one, so the ranker must adapt to it from the session's skips alone."""
TRAIN_FAMILIES: tuple[Family, ...] = tuple(f for f in FAMILIES if f != HELDOUT_FAMILY)

Outcome = Literal["early", "late", "completed", "liked"]
GAIN: dict[str, float] = {"early": 0.0, "late": 1.0, "completed": 2.0, "liked": 3.0}
"""Graded relevance of each outcome: the evaluation's NDCG gain, and each outcome's index (the
ranker's training labels weight them by :data:`models.train.LABEL_GAINS`)."""
EARLY_SKIP_S = 30.0
"""The log's convention: a skip before 30 s into the track is an early skip (the same number as
``player.core.listener.EARLY_SKIP_S``, which the simulator may not import; a test checks they agree)."""
REQUEST_TRACKS = 8
"""Tracks after a request during which the listener judges by the request's walk."""
RECENT_TRACKS = 40
"""A track among this many last plays counts as heard recently."""

RequestKind = Literal["calmer", "energize", "focus", "workout", "sleep", "party", "cheer_up"]


# ---------------------------------------------------------------------------------------- truth
@dataclass(frozen=True, slots=True)
class MoodPoint:
    """A point on the 0–1 valence/energy plane (the simulator's own record, not the player's)."""

    valence: float
    energy: float


@dataclass(frozen=True, slots=True)
class TrackTruth:
    """What a track was designed to be (one entry of the demo catalog's ``truth.json``)."""

    track_id: str
    artist: str
    duration_s: float
    valence: float
    energy: float
    tempo_bpm: float
    major: bool
    brightness: float
    """0 dark … 1 bright timbre."""
    density: float
    """0 sparse … 1 dense arrangement."""
    has_drums: bool


class TruthCatalog:
    """The arrays the simulated listeners judge a catalog by (designed truth, never extracted features)."""

    def __init__(self, truths: Sequence[TrackTruth], *, source: str) -> None:
        if not truths:
            raise ValueError("a truth catalog needs tracks")
        self.truths = tuple(truths)
        self.source = source
        """"demo truth.json" or "proxy" (derived from track features, for training volume only)."""
        self.ids: tuple[str, ...] = tuple(t.track_id for t in truths)
        self.row: dict[str, int] = {t: i for i, t in enumerate(self.ids)}
        self.n = len(truths)
        self.valence = np.array([t.valence for t in truths], np.float64)
        self.energy = np.array([t.energy for t in truths], np.float64)
        self.tempo_bpm = np.array([t.tempo_bpm for t in truths], np.float64)
        self.major = np.array([t.major for t in truths], bool)
        self.brightness = np.array([t.brightness for t in truths], np.float64)
        self.density = np.array([t.density for t in truths], np.float64)
        self.drums = np.array([t.has_drums for t in truths], bool)
        self.duration_s = np.array([t.duration_s for t in truths], np.float64)
        names: dict[str, int] = {}
        self.artist = np.array([names.setdefault(t.artist, len(names)) for t in truths], np.int64)
        self.artist_names = tuple(names)
        self.n_artists = len(names)
        timbre = np.stack([self.brightness, self.density, self.drums.astype(np.float64)], axis=1)
        self.timbre = (timbre - timbre.mean(0)) / np.maximum(timbre.std(0), 1e-6)
        """Designed timbre, z-scored: brightness, density, drums [n, 3]."""

    def distance(self, point: MoodPoint) -> np.ndarray:
        """Euclidean distance of every track's designed (valence, energy) to ``point`` [n]."""
        return np.asarray(np.hypot(self.valence - point.valence, self.energy - point.energy))


def truth_from_demo(truth: Mapping[str, Any] | Path, tracks: Sequence[Track]) -> TruthCatalog:
    """The designed truth of scanned demo ``tracks``, joined to ``truth.json`` by file name.

    Args:
        truth: the parsed ``truth.json`` of :func:`player.library.demo.build_demo_library`, or its path.
        tracks: the library's records of those files (ids and paths from the store).

    Raises:
        ValueError: If a track's file is not in ``truth.json``.
    """
    data = json.loads(Path(truth).read_text(encoding="utf-8")) if isinstance(truth, Path) else truth
    designs = {str(d["file"]): d for d in data["tracks"]}
    out: list[TrackTruth] = []
    for t in tracks:
        d = designs.get(Path(t.path).name)
        if d is None:
            raise ValueError(f"{t.path} is not in truth.json")
        out.append(
            TrackTruth(
                track_id=str(t.id),
                artist=str(d["artist"]),
                duration_s=float(d["duration_s"]),
                valence=float(d["valence"]),
                energy=float(d["energy"]),
                tempo_bpm=float(d["tempo_bpm"]),
                major=d["mode"] == "major",
                brightness=float(d["brightness"]),
                density=float(d["density"]),
                has_drums=bool(d["has_drums"]),
            )
        )
    return TruthCatalog(out, source="demo truth.json")


def truth_from_tracks(tracks: Sequence[Track]) -> TruthCatalog:
    """A *proxy* truth read from track features (for synthetic or unlabelled catalogs used as training
    volume; never for a reported evaluation): valence, energy, tempo, mode and artist as given,
    brightness and density as the percentile ranks of spectral centroid and onset rate, drums when the
    beat strength is above 0.45."""
    centroid = np.array([t.spectral_centroid_hz for t in tracks], np.float64)
    onsets = np.array([t.onset_rate for t in tracks], np.float64)

    def rank(x: np.ndarray) -> np.ndarray:
        return np.asarray(np.argsort(np.argsort(x)) / max(1, len(x) - 1), np.float64)

    bright, dense = rank(centroid), rank(onsets)
    return TruthCatalog(
        [
            TrackTruth(
                track_id=str(t.id),
                artist=t.artist,
                duration_s=float(t.duration_s),
                valence=float(t.valence),
                energy=float(t.energy),
                tempo_bpm=float(t.tempo_bpm),
                major=t.mode == "major",
                brightness=float(bright[i]),
                density=float(dense[i]),
                has_drums=float(t.beat_strength) > 0.45,
            )
            for i, t in enumerate(tracks)
        ],
        source="proxy",
    )


# ---------------------------------------------------------------------------------------- speech
REQUEST_PHRASES: dict[RequestKind, tuple[tuple[str, float], ...]] = {
    "calmer": (
        ("something calmer please", 0.6),
        ("can we slow it down a little", 0.4),
        ("this is way too much, I need it much calmer", 1.0),
    ),
    "energize": (
        ("more energy please", 0.7),
        ("give me something upbeat", 0.6),
        ("pick up the pace a bit", 0.4),
    ),
    "focus": (("I need to focus on my work", 0.7), ("music for studying please", 0.6)),
    "workout": (("I'm heading out for a run", 0.7), ("gym time, let's go", 0.8)),
    "sleep": (("help me wind down for sleep", 0.7), ("time for bed soon", 0.5)),
    "party": (("party time!", 0.8), ("friends are coming over, let's party", 0.7)),
    "cheer_up": (("cheer me up please", 0.7), ("I need something to lift my mood", 0.6)),
}
"""How the simulated listeners ask for things, with the strength they mean (0–1)."""

_ENERGY_WORDS = {
    "low": ("I'm exhausted", "I'm completely worn out", "so tired today", "I'm running on empty"),
    "high": (
        "I'm so wired right now!",  # energy only: "pumped" is pleasant too
        "I'm full of energy",
        "I'm wired and ready to go",
        "I can't sit still",
    ),
}
_VALENCE_WORDS = {
    "low": ("feeling down", "kind of sad today", "it's been a rough day", "a bit gloomy"),
    "high": ("in a great mood", "really happy", "life is good today", "feeling cheerful"),
}
_NEUTRAL = ("just an ordinary day", "I'm fine, nothing special", "a regular afternoon really")


def mood_sentence(mood: MoodPoint, rng: np.random.Generator) -> str:
    """A sentence a listener in ``mood`` might say (energy words for the ends of the energy axis,
    valence words for the ends of the valence axis, a neutral remark in the middle)."""
    e = "low" if mood.energy < 0.33 else "high" if mood.energy > 0.67 else ""
    v = "low" if mood.valence < 0.38 else "high" if mood.valence > 0.62 else ""
    parts = []
    if e:
        parts.append(str(rng.choice(_ENERGY_WORDS[e])))
    if v:
        parts.append(str(rng.choice(_VALENCE_WORDS[v])))
    if not parts:
        return str(rng.choice(_NEUTRAL))
    return " and ".join(parts) if len(parts) == 2 else parts[0]


def request_goal(kind: RequestKind, strength: float, mood: MoodPoint) -> MoodPoint:
    """Where a listener who asks for ``kind`` wants to end up (the simulator's own assumption, not
    the player's): relative moves for calmer/energize/cheer_up, fixed points for the activities."""
    s = min(1.0, max(0.0, strength))

    def clip(x: float) -> float:
        return min(0.97, max(0.03, x))

    if kind == "calmer":
        return MoodPoint(mood.valence, clip(mood.energy - 0.2 - 0.15 * s))
    if kind == "energize":
        return MoodPoint(mood.valence, clip(mood.energy + 0.2 + 0.15 * s))
    if kind == "cheer_up":
        return MoodPoint(clip(mood.valence + 0.25 + 0.1 * s), clip(mood.energy + 0.05))
    fixed = {"focus": (0.55, 0.35), "workout": (0.7, 0.88), "sleep": (0.4, 0.08), "party": (0.82, 0.85)}
    v, e = fixed[kind]
    return MoodPoint(v, e)


def expected_after_request(anchor: MoodPoint, goal: MoodPoint, tracks_since: int) -> MoodPoint:
    """What the listener wants from the ``tracks_since``-th track after a request (0: the next one):
    each track closes half of the remaining gap from ``anchor`` to ``goal``."""
    left = 0.5 ** (tracks_since + 1)
    return MoodPoint(
        goal.valence + (anchor.valence - goal.valence) * left,
        goal.energy + (anchor.energy - goal.energy) * left,
    )


@dataclass(frozen=True, slots=True)
class Utterance:
    """What a listener says, what they meant, and (for most families) what the player is assumed to hear."""

    text: str
    meant: MoodPoint
    """The listener's true mood when they said it."""
    request: RequestKind | None = None
    strength: float = 0.0
    heard: MoodEstimate | None = None
    """The simulated reading (true mood with Gaussian error); None: read ``text`` with the real reader."""


# ---------------------------------------------------------------------------------------- listeners
@dataclass(frozen=True, slots=True)
class Reactions:
    """Probabilities of each reaction to every catalog track [n]: an early skip, a late skip, and a
    like given the track is completed."""

    early: np.ndarray
    late: np.ndarray
    like: np.ndarray

    @property
    def skip(self) -> np.ndarray:
        return np.asarray(self.early + self.late)

    def sample_gains(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One drawn reaction to each of ``rows``, as its :data:`GAIN` (for labelling candidates; a
        reaction's GAIN is also its index 0–3 in early, late, completed, liked order)."""
        u = rng.random(len(rows))
        liked = rng.random(len(rows)) < self.like[rows]
        early, late = self.early[rows], self.late[rows]
        done = np.where(liked, GAIN["liked"], GAIN["completed"])
        return np.where(u < early, GAIN["early"], np.where(u < early + late, GAIN["late"], done))

    def expected_gains(self, rows: np.ndarray, worth: Sequence[float]) -> np.ndarray:
        """Expected worth of each of ``rows`` when an early skip, a late skip, a completion and a like
        are worth ``worth`` (in that order): a candidate's label without the noise of one draw."""
        early, late, like = self.early[rows], self.late[rows], self.like[rows]
        done = 1.0 - early - late
        return np.asarray(
            worth[0] * early + worth[1] * late + done * ((1.0 - like) * worth[2] + like * worth[3])
        )

    def expected_gain(self) -> np.ndarray:
        """Expected graded relevance (:data:`GAIN`) of every track: the judge's ground truth for NDCG."""
        worth = (GAIN["early"], GAIN["late"], GAIN["completed"], GAIN["liked"])
        return self.expected_gains(np.arange(len(self.early)), worth)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _hazards(early_share: np.ndarray | float, *hazards: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Combine independent skip hazards: P(skip) = 1 − Π(1 − h); split into (early, late)."""
    keep: np.ndarray | float = 1.0
    for h in hazards:
        keep = keep * (1.0 - np.clip(h, 0.0, 1.0))
    skip = 1.0 - np.asarray(keep, np.float64)
    share = np.clip(early_share, 0.0, 1.0)
    return np.asarray(skip * share), np.asarray(skip * (1.0 - share))


@dataclass
class SimListener:
    """One simulated listener: hidden tastes, a mood, and a history. Subclasses give the family's form."""

    listener_id: str
    family: Family
    base_valence: float
    base_energy: float
    energy_amplitude: float
    peak_hour: float
    habit_hours: tuple[float, ...]
    tz_hours: int
    talk_rate: float
    """Chance of saying something before each track."""
    request_rate: float
    """Chance that something said carries a request."""
    hearing_noise: float
    """Standard deviation of the simulated reading (families other than ``spoken``)."""
    confidence: tuple[float, float]
    mood: MoodPoint = MoodPoint(0.5, 0.5)
    request: tuple[MoodPoint, MoodPoint, int] | None = None
    """(anchor, goal, tracks since) while a request steers what the listener wants."""
    played: list[int] = field(default_factory=list)
    """Catalog rows played, oldest first (all sessions)."""

    # -- mood ------------------------------------------------------------------------------------
    def natural_mood(self, hour: float) -> MoodPoint:
        e = self.base_energy + self.energy_amplitude * math.cos(2 * math.pi * (hour - self.peak_hour) / 24.0)
        return MoodPoint(self.base_valence, float(np.clip(e, 0.05, 0.95)))

    def drift(self, hour: float, rng: np.random.Generator) -> None:
        """One track's worth of mood drift toward the time of day's natural mood, with noise."""
        n, m = self.natural_mood(hour), self.mood
        self.mood = MoodPoint(
            float(np.clip(m.valence + 0.15 * (n.valence - m.valence) + rng.normal(0, 0.03), 0.02, 0.98)),
            float(np.clip(m.energy + 0.15 * (n.energy - m.energy) + rng.normal(0, 0.03), 0.02, 0.98)),
        )

    def wanted(self) -> MoodPoint:
        """Where the listener wants the next track to sit on the valence/energy plane."""
        if self.request is not None:
            anchor, goal, since = self.request
            return expected_after_request(anchor, goal, since)
        return self.mood

    def speak(self, rng: np.random.Generator, hour: float, *, force: bool = False) -> Utterance | None:
        """Maybe say something (always if ``force``); a request starts the listener's expected walk."""
        if not force and rng.random() >= self.talk_rate:
            return None
        m = self.mood
        text = mood_sentence(m, rng)
        request: RequestKind | None = None
        strength = 0.0
        if rng.random() < self.request_rate:
            options: list[RequestKind] = ["calmer", "focus"] if m.energy > 0.5 else ["energize", "workout"]
            if m.valence < 0.5:
                options.append("cheer_up")
            if hour >= 21 or hour < 5:
                options.append("sleep")
            if 18 <= hour < 24:
                options.append("party")
            request = options[int(rng.integers(0, len(options)))]
            phrases = REQUEST_PHRASES[request]
            phrase, strength = phrases[int(rng.integers(0, len(phrases)))]
            text = phrase if rng.random() < 0.5 else f"{text}, {phrase}"
            self.request = (self.wanted(), request_goal(request, strength, m), 0)
        heard = None
        if self.family != "spoken":
            intents = (Intent(kind=request, strength=strength, phrase=text),) if request else ()
            heard = MoodEstimate(
                valence=float(np.clip(m.valence + rng.normal(0, self.hearing_noise), 0, 1)),
                energy=float(np.clip(m.energy + rng.normal(0, self.hearing_noise), 0, 1)),
                confidence=float(rng.uniform(*self.confidence)),
                transcript=text,
                intents=intents,
            )
        return Utterance(text=text, meant=m, request=request, strength=strength, heard=heard)

    # -- judging ---------------------------------------------------------------------------------
    def recent_mask(self, cat: TruthCatalog) -> np.ndarray:
        """1.0 for tracks among the last :data:`RECENT_TRACKS` plays [n]."""
        recent = np.zeros(cat.n)
        if self.played:
            recent[np.array(self.played[-RECENT_TRACKS:])] = 1.0
        return recent

    def reactions(self, cat: TruthCatalog) -> Reactions:
        """How the listener would react to each catalog track now (the family's functional form)."""
        raise NotImplementedError

    def react(self, cat: TruthCatalog, row: int, rng: np.random.Generator) -> tuple[Outcome, bool]:
        """Draw the reaction to the track at ``row``: (outcome, disliked)."""
        r = self.reactions(cat)
        return _draw(float(r.early[row]), float(r.late[row]), float(r.like[row]), rng)

    def after_play(self, cat: TruthCatalog, row: int, outcome: Outcome) -> None:
        """Update history, the request's progress and the mood after a play."""
        self.played.append(row)
        if outcome in ("completed", "liked"):
            m = self.mood
            self.mood = MoodPoint(
                m.valence + 0.1 * (float(cat.valence[row]) - m.valence),
                m.energy + 0.1 * (float(cat.energy[row]) - m.energy),
            )
        if self.request is not None:
            anchor, goal, since = self.request
            if since + 1 >= REQUEST_TRACKS:
                self.mood = expected_after_request(anchor, goal, since)
                self.request = None
            else:
                self.request = (anchor, goal, since + 1)


def _draw(p_early: float, p_late: float, p_like: float, rng: np.random.Generator) -> tuple[Outcome, bool]:
    u = rng.random()
    if u < p_early:
        return "early", bool(rng.random() < 0.25)
    if u < p_early + p_late:
        return "late", False
    if rng.random() < p_like:
        return "liked", False
    return "completed", False


@dataclass
class TimbreListener(SimListener):
    """Mood distance with timbre taste: a linear utility through logistic thresholds."""

    mood_weight: float = 4.0
    taste_dir: np.ndarray = field(default_factory=lambda: np.zeros(3))
    taste_strength: float = 0.7
    artist_bias: np.ndarray = field(default_factory=lambda: np.zeros(1))
    patience: float = 0.0
    lift: float = 0.0

    def wanted(self) -> MoodPoint:
        w = super().wanted()
        if self.request is None and self.lift:
            return MoodPoint(min(0.97, w.valence + self.lift), min(0.97, w.energy + self.lift / 2))
        return w

    def reactions(self, cat: TruthCatalog) -> Reactions:
        z = (
            -self.mood_weight * cat.distance(self.wanted())
            + self.taste_strength * (cat.timbre @ self.taste_dir)
            + self.artist_bias[cat.artist % len(self.artist_bias)]
            - 1.2 * self.recent_mask(cat)
            + self.patience
        )
        early = _sigmoid((-1.0 - z) / 0.45)
        late = _sigmoid((-0.3 - z) / 0.45) - early
        return Reactions(early, late, 0.6 * _sigmoid((z - 0.9) / 0.45))


Rule = tuple[str, float]
"""(kind, threshold): "minor" (avoids minor keys), "tempo_max"/"tempo_min" (bpm), "energy_max",
"bright_max"/"bright_min" (brightness 0–1)."""


@dataclass
class RulesListener(SimListener):
    """Hidden rules on musical properties: step functions, mood a weak second factor."""

    rules: tuple[Rule, ...] = ()

    def breaks(self, cat: TruthCatalog) -> np.ndarray:
        """True for tracks that break any of the listener's rules [n]."""
        return _breaks(self.rules, cat)

    def reactions(self, cat: TruthCatalog) -> Reactions:
        bad = self.breaks(cat)
        off = np.clip(cat.distance(self.wanted()) / 0.5, 0.0, 1.0)
        early, late = _hazards(
            np.where(bad, 0.85, 0.45), np.where(bad, 0.85, 0.08), 0.3 * off, 0.6 * self.recent_mask(cat)
        )
        return Reactions(early, late, np.where(bad, 0.0, 0.4 * (1.0 - off)))


@dataclass
class BandListener(SimListener):
    """Tolerance bands: flat inside a box around the wanted point, steep outside."""

    half_width_valence: float = 0.2
    half_width_energy: float = 0.12

    def reactions(self, cat: TruthCatalog) -> Reactions:
        w = self.wanted()
        over = np.maximum(
            np.maximum(
                np.abs(cat.valence - w.valence) - self.half_width_valence,
                np.abs(cat.energy - w.energy) - self.half_width_energy,
            ),
            0.0,
        )
        outside = 1.0 - np.exp(-over / 0.07)
        early, late = _hazards(
            0.3 + 0.6 * (1.0 - np.exp(-over / 0.1)), 0.06 + 0.94 * outside, 0.5 * self.recent_mask(cat)
        )
        return Reactions(early, late, np.where(over > 0, 0.05, 0.4))


@dataclass
class ArtistListener(SimListener):
    """Artist loyalty or novelty seeking: hazards that multiply, mood a weak third."""

    loyal: bool = True
    favourites: tuple[int, ...] = ()
    """Favourite artists (catalog artist indices) of a loyal listener."""

    def reactions(self, cat: TruthCatalog) -> Reactions:
        ever = np.zeros(cat.n, bool)
        if self.played:
            ever[np.array(self.played)] = True
        fav = np.isin(cat.artist, np.array(self.favourites, np.int64))
        if self.loyal:
            h_artist = np.where(fav, 0.04, 0.5)
            h_repeat = 0.5 * self.recent_mask(cat)
        else:
            last = {int(cat.artist[r]) for r in self.played[-3:]}
            h_artist = np.where(np.isin(cat.artist, np.array(sorted(last), np.int64)), 0.6, 0.04)
            h_repeat = np.where(ever, 0.75, 0.0)
        h_mood = 0.5 * np.clip((cat.distance(self.wanted()) - 0.15) / 0.4, 0.0, 1.0)
        early, late = _hazards(0.6, h_artist, h_repeat, h_mood)
        good = (h_artist < 0.1) & (h_repeat < 0.1)
        return Reactions(early, late, np.where(good, 0.45, 0.08))


@dataclass
class SpokenListener(SimListener):
    """Listeners who say how they feel and want music at it: a Gaussian kernel around the wanted point."""

    sigma_valence: float = 0.22
    sigma_energy: float = 0.14

    def reactions(self, cat: TruthCatalog) -> Reactions:
        w = self.wanted()
        fit = np.exp(
            -0.5
            * (
                ((cat.valence - w.valence) / self.sigma_valence) ** 2
                + ((cat.energy - w.energy) / self.sigma_energy) ** 2
            )
        )
        early, late = _hazards(0.55, 0.05 + 0.9 * (1.0 - fit), 0.5 * self.recent_mask(cat))
        return Reactions(early, late, 0.5 * fit)


Aversion = tuple[str, float]
"""(kind, threshold): "sad" (valence below), "dense"/"sparse" (density above/below), "drums"/"no_drums"
(threshold unused)."""


@dataclass
class AversionsListener(SimListener):
    """Smooth dislikes on musical properties the rules family never uses; mood distance as well."""

    aversions: tuple[Aversion, ...] = ()

    def dislike(self, cat: TruthCatalog) -> np.ndarray:
        """0–1 per track: how strongly it meets any of the listener's aversions [n]."""
        return _dislike(self.aversions, cat)

    def reactions(self, cat: TruthCatalog) -> Reactions:
        bad = self.dislike(cat)
        off = np.clip(cat.distance(self.wanted()) / 0.4, 0.0, 1.0)
        early, late = _hazards(0.4 + 0.4 * bad, 0.75 * bad, 0.06 + 0.45 * off, 0.5 * self.recent_mask(cat))
        return Reactions(early, late, 0.45 * (1.0 - bad) * (1.0 - off))


def _dislike(aversions: Sequence[Aversion], cat: TruthCatalog) -> np.ndarray:
    out = np.zeros(cat.n)
    for kind, t in aversions:
        if kind == "sad":
            d = _sigmoid((t - cat.valence) / 0.05)
        elif kind == "dense":
            d = _sigmoid((cat.density - t) / 0.06)
        elif kind == "sparse":
            d = _sigmoid((t - cat.density) / 0.06)
        elif kind == "drums":
            d = cat.drums.astype(np.float64)
        elif kind == "no_drums":
            d = (~cat.drums).astype(np.float64)
        else:
            raise ValueError(f"unknown aversion {kind!r}")
        out = np.maximum(out, d)
    return out


def _draw_aversions(rng: np.random.Generator, cat: TruthCatalog) -> tuple[Aversion, ...]:
    """One or two aversions that together leave at least a third of the catalog mostly liked."""
    for _ in range(50):
        kinds = ["sad", "dense", "sparse", "drums", "no_drums"]
        picked = [str(k) for k in rng.choice(kinds, int(rng.integers(1, 3)), replace=False)]
        if {"dense", "sparse"} <= set(picked) or {"drums", "no_drums"} <= set(picked):
            continue
        thresholds = {
            "sad": float(rng.uniform(0.3, 0.45)),
            "dense": float(rng.uniform(0.5, 0.7)),
            "sparse": float(rng.uniform(0.3, 0.5)),
            "drums": 0.0,
            "no_drums": 0.0,
        }
        aversions = tuple((k, thresholds[k]) for k in picked)
        if (_dislike(aversions, cat) < 0.5).mean() >= 1 / 3:
            return aversions
    return (("sad", 0.35),)


def _breaks(rules: Sequence[Rule], cat: TruthCatalog) -> np.ndarray:
    bad = np.zeros(cat.n, bool)
    for kind, t in rules:
        if kind == "minor":
            bad |= ~cat.major
        elif kind == "tempo_max":
            bad |= cat.tempo_bpm > t
        elif kind == "tempo_min":
            bad |= cat.tempo_bpm < t
        elif kind == "energy_max":
            bad |= cat.energy > t
        elif kind == "bright_max":
            bad |= cat.brightness > t
        elif kind == "bright_min":
            bad |= cat.brightness < t
        else:
            raise ValueError(f"unknown rule {kind!r}")
    return bad


def _draw_rules(rng: np.random.Generator, cat: TruthCatalog) -> tuple[Rule, ...]:
    """One or two rules that together leave at least a quarter of the catalog acceptable."""
    for _ in range(50):
        kinds = ["minor", "tempo_max", "tempo_min", "energy_max", "bright_max", "bright_min"]
        picked = [str(k) for k in rng.choice(kinds, int(rng.integers(1, 3)), replace=False)]
        if {"bright_max", "bright_min"} <= set(picked) or {"tempo_max", "tempo_min"} <= set(picked):
            continue
        thresholds = {
            "minor": 0.0,
            "tempo_max": float(rng.uniform(100.0, 135.0)),
            "tempo_min": float(rng.uniform(90.0, 120.0)),
            "energy_max": float(rng.uniform(0.45, 0.65)),
            "bright_max": float(rng.uniform(0.45, 0.7)),
            "bright_min": float(rng.uniform(0.3, 0.55)),
        }
        rules = tuple((k, thresholds[k]) for k in picked)
        if (~_breaks(rules, cat)).mean() >= 0.25:
            return rules
    return (("minor", 0.0),)


def _common(rng: np.random.Generator, listener_id: str, family: Family) -> dict[str, Any]:
    talk, request = {"spoken": (0.35, 0.4), "rules": (0.1, 0.2)}.get(family, (0.2, 0.35))
    return {
        "listener_id": listener_id,
        "family": family,
        "base_valence": float(rng.uniform(0.35, 0.7)),
        "base_energy": float(rng.uniform(0.35, 0.65)),
        "energy_amplitude": float(rng.uniform(0.08, 0.25)),
        "peak_hour": float(rng.uniform(10.0, 19.0)),
        "habit_hours": tuple(
            float(h) for h in rng.choice([7.5, 9.0, 13.0, 17.5, 20.0, 22.5], 2, replace=False)
        ),
        "tz_hours": int(rng.choice([-5, 0, 1, 9])),
        "talk_rate": talk,
        "request_rate": request,
        "hearing_noise": float(rng.uniform(0.06, 0.12)),
        "confidence": (0.4, 0.9),
    }


def draw_listeners(family: Family, count: int, *, seed: int, cat: TruthCatalog) -> list[SimListener]:
    """``count`` listeners of ``family`` (reproducible from ``seed``; tastes drawn for ``cat``'s artists)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown listener family {family!r}")
    rng = np.random.default_rng([seed, FAMILIES.index(family)])
    out: list[SimListener] = []
    for i in range(count):
        common = _common(rng, f"{family}-{seed}-{i}", family)
        listener: SimListener
        if family == "timbre":
            d = rng.normal(0, 1, 3)
            listener = TimbreListener(
                **common,
                mood_weight=float(rng.uniform(3.0, 5.0)),
                taste_dir=d / np.linalg.norm(d),
                taste_strength=float(rng.uniform(0.4, 1.0)),
                artist_bias=rng.normal(0, float(rng.uniform(0.2, 0.5)), cat.n_artists),
                patience=float(rng.uniform(-0.2, 0.3)),
                lift=float(rng.uniform(0.1, 0.2)) if rng.random() < 0.35 else 0.0,
            )
        elif family == "rules":
            listener = RulesListener(**common, rules=_draw_rules(rng, cat))
        elif family == "aversions":
            listener = AversionsListener(**common, aversions=_draw_aversions(rng, cat))
        elif family == "band":
            listener = BandListener(
                **common,
                half_width_valence=float(rng.uniform(0.12, 0.3)),
                half_width_energy=float(rng.uniform(0.08, 0.2)),
            )
        elif family == "artist":
            n_fav = min(cat.n_artists, int(rng.integers(1, 3)))
            listener = ArtistListener(
                **common,
                loyal=bool(rng.random() < 0.5),
                favourites=tuple(int(a) for a in rng.choice(cat.n_artists, n_fav, replace=False)),
            )
        else:
            listener = SpokenListener(
                **common,
                sigma_valence=float(rng.uniform(0.15, 0.3)),
                sigma_energy=float(rng.uniform(0.1, 0.2)),
            )
        out.append(listener)
    return out


# ---------------------------------------------------------------------------------------- sessions
class Player(Protocol):
    """What the simulator needs of a player: the messages a client sends, queues of track ids back."""

    def start(self, listener_id: str, session_id: str, local_time: datetime, at_s: float) -> list[str]:
        """A session starts (``session.start``); returns the first queue."""
        ...

    def say(self, utterance: Utterance, at_s: float) -> list[str]:
        """The listener said something (``text``); returns the queue pushed after it."""
        ...

    def playback(self, kind: str, track_id: str, position_s: float, at_s: float) -> list[str] | None:
        """A playback event (``playback``); returns a queue if the player pushed one (after a skip)."""
        ...

    def next(self, at_s: float) -> list[str]:
        """Ask for the queue (``next``)."""
        ...

    def end(self, at_s: float) -> None:
        """The session ends (``session.end``)."""
        ...


@dataclass
class Decision:
    """A point where the player chose the next track (handed to ``on_decision`` before the play)."""

    listener: SimListener
    cat: TruthCatalog
    at_s: float
    queue: list[str]
    """The player's queue, best first; its first track is played."""
    wanted: MoodPoint


@dataclass(frozen=True, slots=True)
class Play:
    """One track played: the decision, the catalog row played, the listener's reaction."""

    decision: Decision
    row: int
    outcome: Outcome


_EPOCH = datetime(2026, 3, 2, tzinfo=UTC).timestamp()  # a Monday


def run_listener(
    listener: SimListener,
    cat: TruthCatalog,
    player: Player,
    *,
    seed: int,
    sessions: int = 3,
    tracks_per_session: int = 20,
    on_decision: Callable[[Decision], None] | None = None,
) -> Iterator[Play]:
    """Play ``sessions`` sessions of ``listener`` against ``player``; yields every track played.

    Each session starts at one of the listener's habitual hours; ``spoken`` listeners say how they
    feel at the start, others as their talk rate has it. The first track of each queue is played.
    """
    rng = np.random.default_rng(seed)
    tz = timezone(timedelta(hours=listener.tz_hours))
    for s in range(sessions):
        day = 3 * s + int(rng.integers(0, 3))
        hour = float(listener.habit_hours[s % len(listener.habit_hours)] + rng.normal(0, 0.7)) % 24.0
        at_s = _EPOCH + day * 86400.0 + hour * 3600.0 - listener.tz_hours * 3600.0
        listener.mood = listener.natural_mood(hour)
        listener.request = None
        session_id = f"{listener.listener_id}-s{s}"
        queue = player.start(listener.listener_id, session_id, datetime.fromtimestamp(at_s, tz), at_s)
        at_s += 1.0
        for k in range(tracks_per_session):
            local = datetime.fromtimestamp(at_s, tz)
            hour = local.hour + local.minute / 60.0
            listener.drift(hour, rng)
            utterance = listener.speak(rng, hour, force=(k == 0 and listener.family == "spoken"))
            if utterance is not None:
                queue = player.say(utterance, at_s)
                at_s += 4.0
            if not queue:
                queue = player.next(at_s)
            if not queue:
                break
            decision = Decision(listener, cat, at_s, list(queue), listener.wanted())
            if on_decision is not None:
                on_decision(decision)
            track_id = queue[0]
            row = cat.row[track_id]
            outcome, disliked = listener.react(cat, row, rng)
            duration = float(cat.duration_s[row])
            player.playback("started", track_id, 0.0, at_s)
            pushed: list[str] | None = None
            if outcome in ("early", "late"):
                if outcome == "early":
                    position = float(rng.uniform(3.0, min(EARLY_SKIP_S - 1.0, 0.6 * duration)))
                else:
                    position = float(rng.uniform(EARLY_SKIP_S, max(EARLY_SKIP_S + 0.5, 0.9 * duration)))
                    position = min(position, duration - 0.1)
                end_s = at_s + position
                if disliked:
                    player.playback("disliked", track_id, position, end_s)
                pushed = player.playback("skipped", track_id, position, end_s)
            else:
                if outcome == "liked":
                    player.playback("liked", track_id, 0.6 * duration, at_s + 0.6 * duration)
                end_s = at_s + duration
                pushed = player.playback("completed", track_id, duration, end_s)
            listener.after_play(cat, row, outcome)
            # the rest of the queue plays on unless the player pushed a new one
            queue = pushed if pushed is not None else queue[1:]
            at_s = end_s + 2.0
            yield Play(decision, row, outcome)
        player.end(at_s)


# ---------------------------------------------------------------------------------------- a log
class _NearHeardPlayer:
    """A player for :func:`simulate_log`: a random track among the 30 nearest (designed truth) to the
    last mood it heard, never one of the last 25 played; logs what a server would."""

    def __init__(self, cat: TruthCatalog, rng: np.random.Generator, events: list[LogEvent]) -> None:
        self.cat, self.rng, self.events = cat, rng, events
        self.listener_id = self.session_id = ""
        self.heard = MoodPoint(0.5, 0.5)
        self.played: list[int] = []

    def _queue(self) -> list[str]:
        d = self.cat.distance(self.heard)
        d[np.array(self.played[-25:], np.int64)] = np.inf
        near = np.argsort(d)[:30]
        return [self.cat.ids[int(r)] for r in self.rng.permutation(near)[:10]]

    def _log(self, kind: Any, at_s: float, **fields: Any) -> None:
        self.events.append(LogEvent(kind, self.listener_id, self.session_id, at_s, **fields))

    def start(self, listener_id: str, session_id: str, local_time: datetime, at_s: float) -> list[str]:
        self.listener_id, self.session_id = listener_id, session_id
        self._log("session_start", at_s, local_time=local_time.isoformat(), device="sim")
        return self._queue()

    def say(self, utterance: Utterance, at_s: float) -> list[str]:
        heard = utterance.heard or MoodEstimate(utterance.meant.valence, utterance.meant.energy, 0.6)
        self.heard = MoodPoint(heard.valence, heard.energy)
        self._log(
            "mood",
            at_s,
            valence=heard.valence,
            energy=heard.energy,
            confidence=heard.confidence,
            intents=tuple(i.kind for i in heard.intents),
        )
        return self._queue()

    def playback(self, kind: str, track_id: str, position_s: float, at_s: float) -> list[str] | None:
        if kind == "started":
            self.played.append(self.cat.row[track_id])
        self._log(kind, at_s, track_id=track_id, position_s=position_s)
        return self._queue() if kind == "skipped" else None

    def next(self, at_s: float) -> list[str]:
        return self._queue()

    def end(self, at_s: float) -> None:
        self._log("session_end", at_s)


def simulate_log(
    tracks: list[Track],
    *,
    listeners: int,
    seed: int,
    families: Sequence[Family] = TRAIN_FAMILIES,
    sessions: int = 2,
    tracks_per_session: int = 15,
) -> list[LogEvent]:
    """Events a server would have logged for simulated listeners (families in turn) whose player picked
    a random track among the 30 nearest to the mood it last heard (for exercising `cadence train`
    without real users; tracks are judged by :func:`truth_from_tracks`)."""
    cat = truth_from_tracks(tracks)
    events: list[LogEvent] = []
    player = _NearHeardPlayer(cat, np.random.default_rng(seed), events)
    per = [draw_listeners(f, listeners, seed=seed, cat=cat) for f in families]
    for i in range(listeners):
        listener = per[i % len(per)][i]
        for _ in run_listener(
            listener, cat, player, seed=seed * 7 + i, sessions=sessions, tracks_per_session=tracks_per_session
        ):
            pass
    return events


# ---------------------------------------------------------------------------------------- catalogs
_WORDS = (
    "amber",
    "blue",
    "cedar",
    "dawn",
    "ember",
    "fern",
    "glass",
    "harbor",
    "iris",
    "juniper",
    "kite",
    "lantern",
    "meadow",
    "north",
    "opal",
    "pine",
    "quartz",
    "river",
    "salt",
    "tide",
    "umber",
    "velvet",
    "willow",
    "yarrow",
    "zephyr",
    "ash",
    "birch",
    "coral",
    "dune",
    "echo",
    "frost",
    "grove",
    "haze",
)


@dataclass(frozen=True)
class CatalogMatrix:
    """A feature matrix of a synthetic catalog, shaped like ``player.library.store.FeatureMatrix``."""

    ids: tuple[str, ...]
    columns: tuple[str, ...]
    values: np.ndarray
    """float32 [n_tracks, len(columns)]."""

    def row(self, track_id: str) -> int:
        return self.ids.index(track_id)


def catalog_matrix(tracks: list[Track]) -> CatalogMatrix:
    """The float32 matrix of ``tracks`` in ``NUMERIC_FEATURES`` order."""
    values = np.array([t.numeric() for t in tracks], dtype=np.float32).reshape(
        len(tracks), len(NUMERIC_FEATURES)
    )
    return CatalogMatrix(ids=tuple(t.id for t in tracks), columns=NUMERIC_FEATURES, values=values)


def synthetic_catalog(count: int, *, seed: int = 7, tracks_per_artist: int = 12) -> list[Track]:
    """``count`` plausible tracks in artist clusters with correlated descriptors, without audio.

    Each artist has a style (energy, valence, acousticness, tempo, a timbre direction) its tracks
    scatter around; loudness, tempo, onset rate, spectral centroid and danceability rise with energy,
    acousticness falls with it, valence goes with major mode and danceability. For benchmarks, tests
    and training volume (judged by :func:`truth_from_tracks`), never for a reported evaluation.
    """
    rng = np.random.default_rng(seed)
    n_artists = max(3, count // tracks_per_artist)
    a_energy = rng.beta(2.0, 2.0, n_artists)
    a_valence = rng.beta(2.0, 2.0, n_artists)
    a_acoustic = np.clip(1.0 - a_energy + rng.normal(0, 0.2, n_artists), 0.02, 0.98)
    a_tempo = 70.0 + 90.0 * a_energy + rng.normal(0, 12.0, n_artists)
    a_timbre = rng.normal(0, 1.0, (n_artists, MFCC_COUNT - 1))
    a_major = rng.uniform(0.2, 0.9, n_artists)
    names = [
        f"{_WORDS[i % len(_WORDS)].title()} {_WORDS[(i * 7 + 3) % len(_WORDS)].title()}"
        + ("" if i < len(_WORDS) else f" {i // len(_WORDS)}")
        for i in range(n_artists)
    ]
    artist = rng.integers(0, n_artists, count)
    artist[: min(count, n_artists)] = np.arange(min(count, n_artists))
    e = np.clip(a_energy[artist] + rng.normal(0, 0.12, count), 0.02, 0.98)
    major = rng.random(count) < a_major[artist]
    dance = np.clip(0.3 + 0.5 * e + rng.normal(0, 0.12, count), 0.02, 0.98)
    v = np.clip(
        a_valence[artist] + 0.08 * (major - 0.5) + 0.1 * (dance - 0.5) + rng.normal(0, 0.1, count), 0.02, 0.98
    )
    acoustic = np.clip(
        a_acoustic[artist] - 0.3 * (e - a_energy[artist]) + rng.normal(0, 0.08, count), 0.01, 0.99
    )
    tempo = np.clip(a_tempo[artist] * np.exp(rng.normal(0, 0.08, count)), 55.0, 200.0)
    loud = -26.0 + 18.0 * e + rng.normal(0, 1.5, count)
    centroid = 900.0 + 2600.0 * e * (1.2 - 0.6 * acoustic) + rng.normal(0, 200.0, count)
    timbre = a_timbre[artist] + rng.normal(0, 0.45, (count, MFCC_COUNT - 1))
    tracks: list[Track] = []
    for i in range(count):
        mfcc_mean = (
            float(-320.0 + 14.0 * (loud[i] + 26.0)),
            *tuple(float(25.0 * timbre[i, j] / math.sqrt(j + 1)) for j in range(MFCC_COUNT - 1)),
        )
        mfcc_std = tuple(float(abs(rng.normal(18.0 / math.sqrt(j + 1), 2.0))) for j in range(MFCC_COUNT))
        a = int(artist[i])
        tracks.append(
            Track(
                id=TrackId(f"syn{seed}-{i:06d}"),
                path=f"synthetic/{seed}/{i:06d}.flac",
                title=f"{_WORDS[(i * 5 + seed) % len(_WORDS)].title()} {_WORDS[(i * 11 + 1) % len(_WORDS)]} {i}",
                artist=names[a],
                album=f"{names[a]} {1 + i % 3}",
                duration_s=float(np.clip(rng.normal(225.0, 50.0), 90.0, 600.0)),
                tempo_bpm=float(tempo[i]),
                beat_strength=float(np.clip(0.3 + 0.5 * dance[i] + rng.normal(0, 0.08), 0.0, 1.0)),
                onset_rate=float(np.clip(1.0 + 5.0 * e[i] + rng.normal(0, 0.6), 0.2, 10.0)),
                loudness_db=float(loud[i]),
                dynamic_range_db=float(np.clip(14.0 - 8.0 * e[i] + rng.normal(0, 2.0), 2.0, 30.0)),
                spectral_centroid_hz=float(max(300.0, centroid[i])),
                spectral_rolloff_hz=float(max(800.0, 2.1 * centroid[i] + rng.normal(0, 300.0))),
                spectral_flatness=float(
                    np.clip(0.02 + 0.2 * e[i] * (1 - acoustic[i]) + rng.normal(0, 0.02), 0.001, 0.9)
                ),
                spectral_contrast_db=float(18.0 + 6.0 * acoustic[i] + rng.normal(0, 1.5)),
                zero_crossing_rate=float(np.clip(0.03 + 0.1 * e[i] + rng.normal(0, 0.015), 0.005, 0.5)),
                key=int(rng.integers(0, 12)),
                mode="major" if major[i] else "minor",
                hp_ratio=float(np.clip(0.35 + 0.5 * acoustic[i] + rng.normal(0, 0.08), 0.02, 0.98)),
                energy=float(e[i]),
                danceability=float(dance[i]),
                acousticness=float(acoustic[i]),
                valence=float(v[i]),
                mfcc_mean=mfcc_mean,
                mfcc_std=mfcc_std,
            )
        )
    return tracks
