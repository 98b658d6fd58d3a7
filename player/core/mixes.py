"""A listener's mixes: named track lists built from their own log and the library, each by one rule.

Pure: no clock, no disk, no randomness but generators seeded from the inputs. The caller passes the
server time ``now_s`` (Unix seconds), the listener's local time ``listener_local`` (an aware
datetime: it names the day, the week and the daypart), and optionally when each track was added to
the library (``added_at``, Unix seconds by track id). :func:`build_mixes` returns the same mixes for
the same inputs; its only randomness is seeded from the inputs: the listener's local day (the Daily
Mixes' top-ups) or ISO week (Discover), never a clock.

What the log says about a track
-------------------------------
Only playback events (``started``, ``skipped``, ``completed``, ``liked``, ``disliked``) of tracks in
the library count; events after ``now_s`` are ignored. A skip before
:data:`~player.core.listener.EARLY_SKIP_S` is an *early* skip (a strong "not this"), a later one a
*late* skip. A track is *played* when any playback event names it; it is *rejected* when it was
disliked, or early-skipped more often than completed and liked. Rejected tracks are in no mix.

- *Affinity* (all time) = completions + 2 × likes − early skips − 0.5 × late skips − 3 × dislikes.
- The *taste centroid* is the unit mean of the taste vectors (the ranker's
  :attr:`~player.core.ranking.context.Catalog.taste`: z-scored timbre and descriptors, cosine = dot
  product) of the tracks with positive affinity, weighted by it; the *skip centroid* the same of the
  early-skipped and disliked tracks, weighted by early skips + 2 × dislikes.
- *Taste* of a track is its cosine to the taste centroid (no centroid: no taste, "cold start").

The mixes
---------
Every mix holds at most ``size`` tracks, never a track twice, and is left out when it would hold
fewer than :data:`MIN_MIX_TRACKS` (or than ``size``, when that is smaller).

- **On Repeat** (``on-repeat``, daily): tracks completed at least once in the last
  :data:`REPEAT_WINDOW_S` (30 days), scored over that window by completions × 1 + starts × 0.25 +
  likes × 1 − early skips × 1 − late skips × 0.5 − dislikes × 2 (completions weigh four times a
  start; skips count against); positive scores only, best first (ties: played more recently first).
- **Repeat Rewind** (``repeat-rewind``, daily): favourites — affinity ≥ :data:`REWIND_MIN_AFFINITY` —
  with no playback event in the last 30 days; highest affinity first.
- **Daily Mixes** (``daily-1`` … ``daily-6``, daily): the listener's *seeds* (tracks completed or
  liked, not rejected) are clustered by k-means (k-means++ start, seeded from the seed set) on
  :func:`cluster_features` (library-standardized timbre MFCC means 1–12, log tempo, the key's place on
  the circle of fifths with minor keys on their relative major, energy and acousticness; each block
  weighted). k = seeds // :data:`SEEDS_PER_CLUSTER`, between 1 and :data:`MAX_DAILY_MIXES`; a cluster
  needs :data:`DAILY_MIN_SEEDS` seeds. Each mix is its seeds (highest affinity first, at most
  :data:`DAILY_SEED_SHARE` of ``size``) interleaved with top-ups: unplayed-or-less-played tracks (not
  seeds, not rejected) whose nearest cluster is this one, drawn from the nearest 2 × needed by a
  generator seeded from the day. Ordered largest cluster first. Title: the cluster's mean
  descriptors in words (:func:`describe`), then its two most frequent seed artists —
  "Mellow acoustic · Lumen Drift, Tessellate and more".
- **Discover** (``discover``, weekly): never-played tracks. With a taste centroid, relevance = taste −
  :data:`DISCOVER_SKIP_WEIGHT` × cosine to the skip centroid; without one, every track is equally
  relevant (the re-ranking then spreads them over the library). Relevance gets a small jitter seeded
  from the listener's ISO week (so the list changes weekly and never within a week), then
  :func:`mmr_order` picks ``size`` of the best 4 × ``size``: maximal marginal relevance on the taste
  vectors (λ = :data:`DISCOVER_MMR_LAMBDA`), never the same artist twice in a row when another is left.
  With a collaborative-filtering model (:class:`MixBuilder` ``cf``), relevance also gets
  :data:`DISCOVER_CF_WEIGHT` × 2 × (cf − 0.5): what listeners of similar taste play.
- **Release Radar** (``release-radar``, daily): tracks added within :data:`RELEASE_WINDOW_S` (14 days)
  before ``now_s`` (needs ``added_at``). First those by artists the listener plays (an artist with a
  completion or like), most-played artist first, newest first; then the other new tracks by taste
  (cold start: newest first).
- **Activity mixes** (``workout``, ``focus``, ``sleep``, ``party``, ``chill``; daily): each a rule on
  descriptors (:data:`ACTIVITY_RULES`; the tempo is folded by octaves into the rule's range where the
  rule says, since beat trackers halve and double), with a fit score. Candidates are ranked by taste
  (+ 0.1 × fit as a tie-break; cold start: by fit), the best ``size`` kept, then ordered: Workout as an
  energy arc (warms up to its most energetic track, then cools down: :func:`arc_order`); Sleep by
  energy descending (never rises); the others by greedy nearest neighbour on tempo and key
  (:func:`smooth_order`, the ranker's ``tempo_step`` / ``key_step``), starting from the best-ranked.
- **Daylist** (``daylist``, per daypart): for the daypart and weekday of ``listener_local``
  (:func:`daypart`: morning 5–12, afternoon 12–17, evening 17–22, night 22–5, the small hours
  belonging to the night before, as reasons name them), tracks whose energy lies within
  :data:`DAYLIST_ENERGY_BAND` of the population's time-of-day energy
  (:func:`~player.core.listener.time_of_day_prior`), ranked by taste (cold start: by closeness),
  ordered smoothly; titled from its mean descriptors, weekday and daypart ("calm acoustic Tuesday
  morning").

Cold start (no events): the activity mixes, the daylist, Release Radar (newest first) and Discover
(diverse) exist; On Repeat, Rewind and the Daily Mixes need history.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, Protocol

import numpy as np

from player.core.listener import EARLY_SKIP_S, time_of_day_prior
from player.core.ranking.context import Catalog, key_step, tempo_step
from player.core.ranking.reasons import daypart
from player.core.records import LogEvent
from player.core.track import MFCC_COUNT, NUMERIC_FEATURES, Track

__all__ = [
    "ACTIVITY_RULES",
    "DAILY_MIN_SEEDS",
    "DAILY_SEED_SHARE",
    "DAYLIST_ENERGY_BAND",
    "DISCOVER_CF_WEIGHT",
    "DISCOVER_MMR_LAMBDA",
    "DISCOVER_SKIP_WEIGHT",
    "MAX_DAILY_MIXES",
    "MIN_MIX_TRACKS",
    "RELEASE_WINDOW_S",
    "REPEAT_WINDOW_S",
    "REWIND_MIN_AFFINITY",
    "SEEDS_PER_CLUSTER",
    "ActivityRule",
    "CfScores",
    "Mix",
    "MixBuilder",
    "MixKind",
    "Refresh",
    "arc_order",
    "build_mixes",
    "cluster_features",
    "daypart",
    "describe",
    "kmeans",
    "mmr_order",
    "smooth_order",
]

MixKind = Literal["on_repeat", "repeat_rewind", "daily", "discover", "release_radar", "activity", "daylist"]
Refresh = Literal["daily", "weekly", "daypart"]

DAY_S = 86_400.0
MIN_MIX_TRACKS = 5
"""A mix with fewer tracks than this (or than the requested size, if smaller) is left out."""
REPEAT_WINDOW_S = 30 * DAY_S
"""On Repeat looks this far back; Repeat Rewind wants favourites not played within it."""
REWIND_MIN_AFFINITY = 2.0
"""All-time affinity from which a track is a favourite (two completions, or a completed like)."""
MAX_DAILY_MIXES = 6
SEEDS_PER_CLUSTER = 8
"""Seeds per Daily Mix cluster when choosing k by the data size."""
DAILY_MIN_SEEDS = 3
"""A cluster with fewer seeds makes no Daily Mix."""
DAILY_SEED_SHARE = 0.6
"""At most this share of a Daily Mix is the listener's own seeds; the rest are top-ups."""
DISCOVER_SKIP_WEIGHT = 0.5
"""Weight of the cosine to the skip centroid subtracted from Discover's relevance."""
DISCOVER_MMR_LAMBDA = 0.5
"""Weight of the timbre redundancy penalty in Discover's MMR."""
DISCOVER_CF_WEIGHT = 0.5
"""Weight of the collaborative-filtering score (2 × (cf − 0.5), so −1…1) in Discover's relevance."""
DISCOVER_JITTER = 0.05
"""Amplitude of the week-seeded jitter on Discover's relevance (rotates near-ties weekly)."""
RELEASE_WINDOW_S = 14 * DAY_S
"""A track added within this many seconds before ``now_s`` is new."""
DAYLIST_ENERGY_BAND = 0.2
"""A track fits the daypart when its energy is within this of the time-of-day energy."""


@dataclass(frozen=True, slots=True)
class Mix:
    """One named track list for a listener."""

    id: str
    """Stable across builds: ``on-repeat``, ``daily-2``, ``workout``, ``daylist``, …"""
    kind: MixKind
    title: str
    description: str
    track_ids: tuple[str, ...]
    """In play order; no id twice; every id a track of the library."""
    refresh: Refresh
    """When the mix next changes with no new listening: each local day, ISO week or daypart."""


# --------------------------------------------------------------------------- public helpers


def mmr_order(
    relevance: np.ndarray, vectors: np.ndarray, artists: Sequence[str], count: int, lam: float
) -> list[int]:
    """Greedy maximal marginal relevance: indices into ``relevance`` (best first, at most ``count``).

    Each pick maximises relevance − ``lam`` × its largest cosine (``vectors`` unit rows) to an earlier
    pick, among candidates whose artist differs from the previous pick's while any such is left.
    """
    n = len(relevance)
    free = np.ones(n, bool)
    redundancy = np.zeros(n, np.float64)
    artist_arr = np.asarray(artists, dtype=object)
    out: list[int] = []
    while len(out) < min(count, n):
        allowed = free.copy()
        if out:
            other = allowed & (artist_arr != artist_arr[out[-1]])
            if other.any():
                allowed = other
        value = np.where(allowed, relevance - lam * np.maximum(redundancy, 0.0), -np.inf)
        best = int(np.argmax(value))
        out.append(best)
        free[best] = False
        redundancy = np.maximum(redundancy, vectors @ vectors[best])
    return out


def kmeans(points: np.ndarray, k: int, *, seed: int, iterations: int = 50) -> np.ndarray:
    """Lloyd's k-means with a k-means++ start from ``np.random.default_rng(seed)``; labels [n] in 0..k-1.

    An emptied cluster keeps its previous centre (labels may then skip a value).
    """
    n = len(points)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    centres = [points[int(rng.integers(n))]]
    d2 = ((points - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = float(d2.sum())
        pick = int(rng.choice(n, p=d2 / total)) if total > 0 else int(rng.integers(n))
        centres.append(points[pick])
        d2 = np.minimum(d2, ((points - points[pick]) ** 2).sum(axis=1))
    c = np.array(centres, dtype=np.float64)
    labels = np.full(n, -1)
    for _ in range(iterations):
        dist = ((points[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
        new = np.argmin(dist, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = points[labels == j]
            if len(members):
                c[j] = members.mean(axis=0)
    return labels


def cluster_features(tracks: Sequence[Track]) -> np.ndarray:
    """The Daily Mixes' clustering space, float64 [n, 17]: each column standardized over ``tracks``,
    then blocks weighted so their shares of the squared norm are timbre (MFCC means 1–12) 0.5, log2
    tempo 0.15, key on the circle of fifths (cos, sin; minor on its relative major) 0.1, energy and
    acousticness 0.25."""
    timbre = np.array([t.mfcc_mean[1:MFCC_COUNT] for t in tracks], dtype=np.float64)
    tempo = np.log2(np.maximum(np.array([[t.tempo_bpm] for t in tracks], dtype=np.float64), 1.0))
    tonic = np.array([(t.key + (0 if t.mode == "major" else 3)) % 12 for t in tracks])
    angle = 2 * np.pi * ((tonic * 7) % 12) / 12.0
    key = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    desc = np.array([[t.energy, t.acousticness] for t in tracks], dtype=np.float64)
    blocks = []
    for block, share in ((timbre, 0.5), (tempo, 0.15), (key, 0.1), (desc, 0.25)):
        z = (block - block.mean(axis=0)) / np.maximum(block.std(axis=0), 1e-6)
        blocks.append(z * math.sqrt(share / block.shape[1]))
    return np.concatenate(blocks, axis=1)


def describe(energy: float, acousticness: float, valence: float, danceability: float) -> list[str]:
    """Words for mean descriptors, most telling first: calm/mellow/easy/upbeat/energetic,
    acoustic/electronic, bright/dark, groovy (each only past its threshold)."""
    words: list[str] = []
    if energy < 0.25:
        words.append("calm")
    elif energy < 0.4:
        words.append("mellow")
    elif energy > 0.75:
        words.append("energetic")
    elif energy > 0.6:
        words.append("upbeat")
    if acousticness >= 0.6:
        words.append("acoustic")
    elif acousticness <= 0.3:
        words.append("electronic")
    if valence >= 0.65:
        words.append("bright")
    elif valence <= 0.35:
        words.append("dark")
    if danceability >= 0.65:
        words.append("groovy")
    return words


def arc_order(energy: Sequence[float]) -> list[int]:
    """Indices ordered as an energy arc: rising to the most energetic, then falling (the sorted
    tracks dealt alternately to the way up and the way down)."""
    order = sorted(range(len(energy)), key=lambda i: (energy[i], i))
    up = order[0::2]
    down = order[1::2]
    return up + down[::-1]


def smooth_order(tempo_bpm: np.ndarray, key: np.ndarray, major: np.ndarray) -> list[int]:
    """Greedy nearest neighbour from index 0: each next track the one with the smallest folded tempo
    step plus half its circle-of-fifths key step (ties: the earlier index, i.e. the better ranked)."""
    n = len(tempo_bpm)
    if n == 0:
        return []
    out = [0]
    free = np.ones(n, bool)
    free[0] = False
    while len(out) < n:
        last = out[-1]
        cost = tempo_step(tempo_bpm, float(tempo_bpm[last])).astype(np.float64) + 0.5 * key_step(
            key, major, int(key[last]), bool(major[last] > 0.5)
        )
        nxt = int(np.argmin(np.where(free, cost, np.inf)))
        out.append(nxt)
        free[nxt] = False
    return out


# --------------------------------------------------------------------------- activity rules


def _fold(tempo: float, lo: float, hi: float) -> float:
    """``tempo`` moved by octaves into [lo, hi] when possible (else the octave nearest to it)."""
    t = max(tempo, 1.0)
    while t < lo and t * 2 <= hi:
        t *= 2
    while t > hi and t / 2 >= lo:
        t /= 2
    return t


@dataclass(frozen=True, slots=True)
class ActivityRule:
    """Which tracks an activity mix takes, and how well each fits (higher is better)."""

    id: str
    title: str
    description: str
    accepts: Callable[[Track], bool]
    fit: Callable[[Track], float]
    order: Literal["arc", "descending", "smooth"]


def _workout_ok(t: Track) -> bool:
    return 115.0 <= _fold(t.tempo_bpm, 115.0, 185.0) <= 185.0 and t.energy >= 0.6


def _sleep_ok(t: Track) -> bool:
    return t.energy <= 0.35 and t.acousticness >= 0.5 and t.tempo_bpm <= 105.0


def _focus_ok(t: Track) -> bool:
    return 0.2 <= t.energy <= 0.55 and 0.3 <= t.valence <= 0.7 and t.beat_strength >= 0.3


def _party_ok(t: Track) -> bool:
    return t.danceability >= 0.65 and t.energy >= 0.65


def _chill_ok(t: Track) -> bool:
    return 0.2 <= t.energy <= 0.55 and t.valence >= 0.5


ACTIVITY_RULES: tuple[ActivityRule, ...] = (
    ActivityRule(
        "workout",
        "Workout",
        "Fast and energetic (115–185 bpm, energy ≥ 0.6): warms up, peaks, cools down.",
        _workout_ok,
        lambda t: t.energy - abs(_fold(t.tempo_bpm, 115.0, 185.0) - 150.0) / 100.0,
        "arc",
    ),
    ActivityRule(
        "focus",
        "Focus",
        "Steady, mid-low energy (0.2–0.55) and even valence (0.3–0.7), smooth transitions.",
        _focus_ok,
        lambda t: t.beat_strength - abs(t.energy - 0.4) - abs(t.valence - 0.5),
        "smooth",
    ),
    ActivityRule(
        "sleep",
        "Sleep",
        "Quiet, acoustic and slow (energy ≤ 0.35, acousticness ≥ 0.5, ≤ 105 bpm), winding down.",
        _sleep_ok,
        lambda t: (1.0 - t.energy) + t.acousticness,
        "descending",
    ),
    ActivityRule(
        "party",
        "Party",
        "Danceable and energetic (danceability and energy ≥ 0.65), smooth transitions.",
        _party_ok,
        lambda t: t.danceability + t.energy,
        "smooth",
    ),
    ActivityRule(
        "chill",
        "Chill",
        "Relaxed and positive (energy 0.2–0.55, valence ≥ 0.5), smooth transitions.",
        _chill_ok,
        lambda t: t.valence - abs(t.energy - 0.35),
        "smooth",
    ),
)
"""The activity mixes' rules, in the order the mixes are listed."""


# --------------------------------------------------------------------------- the log, read once


@dataclass(slots=True)
class _Stats:
    starts: int = 0
    completions: int = 0
    early_skips: int = 0
    late_skips: int = 0
    likes: int = 0
    dislikes: int = 0
    last_s: float = -math.inf

    def affinity(self) -> float:
        return (
            self.completions
            + 2.0 * self.likes
            - self.early_skips
            - 0.5 * self.late_skips
            - 3.0 * self.dislikes
        )

    def repeat_score(self) -> float:
        return (
            self.completions
            + 0.25 * self.starts
            + self.likes
            - self.early_skips
            - 0.5 * self.late_skips
            - 2.0 * self.dislikes
        )

    def rejected(self) -> bool:
        return self.dislikes > 0 or self.early_skips > self.completions + self.likes

    def add(self, e: LogEvent) -> None:
        if e.kind == "started":
            self.starts += 1
        elif e.kind == "completed":
            self.completions += 1
        elif e.kind == "liked":
            self.likes += 1
        elif e.kind == "disliked":
            self.dislikes += 1
        elif e.kind == "skipped":
            if (e.position_s or 0.0) < EARLY_SKIP_S:
                self.early_skips += 1
            else:
                self.late_skips += 1
        self.last_s = max(self.last_s, e.at_s)


_PLAYBACK = frozenset({"started", "skipped", "completed", "liked", "disliked"})


def _read_log(
    events: Sequence[LogEvent], known: Mapping[str, int], now_s: float
) -> tuple[dict[str, _Stats], dict[str, _Stats]]:
    """Per-track stats over all time and over the On Repeat window (events after ``now_s`` ignored)."""
    all_time: dict[str, _Stats] = {}
    recent: dict[str, _Stats] = {}
    for e in events:
        if e.kind not in _PLAYBACK or e.track_id is None or e.track_id not in known or e.at_s > now_s:
            continue
        all_time.setdefault(e.track_id, _Stats()).add(e)
        if e.at_s >= now_s - REPEAT_WINDOW_S:
            recent.setdefault(e.track_id, _Stats()).add(e)
    return all_time, recent


class _TrackMatrix:
    """The tracks' numeric features as a :class:`~player.core.ranking.context.MatrixLike`."""

    def __init__(self, tracks: Sequence[Track]) -> None:
        self.ids: tuple[str, ...] = tuple(str(t.id) for t in tracks)
        self.columns: tuple[str, ...] = NUMERIC_FEATURES
        self.values = np.array([t.numeric() for t in tracks], dtype=np.float32).reshape(
            len(tracks), len(NUMERIC_FEATURES)
        )


def _seed(*parts: object) -> int:
    """A stable 32-bit seed from the inputs (crc32 of their text; Python's hash is salted)."""
    return zlib.crc32(":".join(str(p) for p in parts).encode())


@dataclass(frozen=True, slots=True)
class _Library:
    """What the mixes read of the library alone, computed once per :class:`MixBuilder`."""

    cluster: np.ndarray
    """:func:`cluster_features` of every track, float64 [n, 17]."""
    energy: np.ndarray
    """float64 [n]"""
    activity: dict[str, tuple[np.ndarray, np.ndarray]]
    """Per activity rule id: the rows it accepts (int64) and their fit (float64), in row order."""

    @classmethod
    def of(cls, tracks: Sequence[Track]) -> _Library:
        activity = {}
        for rule in ACTIVITY_RULES:
            rows = [i for i, t in enumerate(tracks) if rule.accepts(t)]
            activity[rule.id] = (
                np.array(rows, dtype=np.int64),
                np.array([rule.fit(tracks[r]) for r in rows], dtype=np.float64),
            )
        return cls(
            cluster=cluster_features(tracks),
            energy=np.array([t.energy for t in tracks], dtype=np.float64),
            activity=activity,
        )


@dataclass(frozen=True, slots=True)
class _Listener:
    """What the mixes read, computed once per build."""

    tracks: tuple[Track, ...]
    catalog: Catalog
    library: _Library
    stats: dict[str, _Stats]
    recent: dict[str, _Stats]
    rejected: np.ndarray
    """bool [n]"""
    taste: np.ndarray | None
    """Cosine of each track to the taste centroid, float64 [n]; None on a cold start."""
    skip_sim: np.ndarray | None
    """Cosine of each track to the skip centroid, float64 [n]; None without early skips/dislikes."""
    cf: np.ndarray | None = None
    """Collaborative-filtering score of each track, 0–1 (0.5 typical), float64 [n]; None without a
    model or anything it can say for this listener."""


def _centroid_cosines(taste: np.ndarray, rows: list[int], weights: list[float]) -> np.ndarray | None:
    if not rows:
        return None
    c = (taste[np.array(rows)] * np.array(weights)[:, None]).sum(axis=0).astype(np.float64)
    norm = float(np.linalg.norm(c))
    if norm < 1e-9:
        return None
    return np.asarray(taste.astype(np.float64) @ (c / norm))


def _read_listener(
    tracks: tuple[Track, ...], catalog: Catalog, library: _Library, events: Sequence[LogEvent], now_s: float
) -> _Listener:
    stats, recent = _read_log(events, catalog.row, now_s)
    rejected = np.zeros(catalog.n, bool)
    pos_rows: list[int] = []
    pos_w: list[float] = []
    neg_rows: list[int] = []
    neg_w: list[float] = []
    for tid, s in sorted(stats.items()):
        r = catalog.row[tid]
        rejected[r] = s.rejected()
        if s.affinity() > 0 and not s.rejected():
            pos_rows.append(r)
            pos_w.append(s.affinity())
        bad = s.early_skips + 2.0 * s.dislikes
        if bad > 0:
            neg_rows.append(r)
            neg_w.append(bad)
    return _Listener(
        tracks=tracks,
        catalog=catalog,
        library=library,
        stats=stats,
        recent=recent,
        rejected=rejected,
        taste=_centroid_cosines(catalog.taste, pos_rows, pos_w),
        skip_sim=_centroid_cosines(catalog.taste, neg_rows, neg_w),
    )


def _ids(lst: _Listener, rows: Sequence[int] | np.ndarray) -> tuple[str, ...]:
    return tuple(lst.catalog.ids[int(r)] for r in rows)


def _artists_phrase(artists: Sequence[str]) -> str:
    """'Lumen Drift, Tessellate and more' from the two most frequent artists (ties by name)."""
    counts = Counter(artists)
    top = sorted(counts, key=lambda a: (-counts[a], a))[:2]
    return f"{', '.join(top)} and more"


def _mean_words(tracks: Sequence[Track]) -> list[str]:
    return describe(
        float(np.mean([t.energy for t in tracks])),
        float(np.mean([t.acousticness for t in tracks])),
        float(np.mean([t.valence for t in tracks])),
        float(np.mean([t.danceability for t in tracks])),
    )


# --------------------------------------------------------------------------- the mixes


def _on_repeat(lst: _Listener, size: int) -> Mix | None:
    scored = [
        (s.repeat_score(), s.last_s, tid)
        for tid, s in lst.recent.items()
        if s.completions > 0 and s.repeat_score() > 0 and not lst.stats[tid].rejected()
    ]
    scored.sort(key=lambda x: (-x[0], -x[1], x[2]))
    ids = tuple(tid for _, _, tid in scored[:size])
    if len(ids) < min(MIN_MIX_TRACKS, size):
        return None
    return Mix(
        "on-repeat",
        "on_repeat",
        "On Repeat",
        "The songs you've played through most in the last 30 days.",
        ids,
        "daily",
    )


def _rewind(lst: _Listener, now_s: float, size: int) -> Mix | None:
    scored = [
        (s.affinity(), s.last_s, tid)
        for tid, s in lst.stats.items()
        if s.affinity() >= REWIND_MIN_AFFINITY and not s.rejected() and s.last_s < now_s - REPEAT_WINDOW_S
    ]
    scored.sort(key=lambda x: (-x[0], -x[1], x[2]))
    ids = tuple(tid for _, _, tid in scored[:size])
    if len(ids) < min(MIN_MIX_TRACKS, size):
        return None
    return Mix(
        "repeat-rewind",
        "repeat_rewind",
        "Repeat Rewind",
        "Past favourites you haven't played in the last 30 days.",
        ids,
        "daily",
    )


def _daily(lst: _Listener, day_key: str, size: int) -> list[Mix]:
    cat = lst.catalog
    seeds = [
        cat.row[tid]
        for tid, s in sorted(lst.stats.items())
        if (s.completions > 0 or s.likes > 0) and not s.rejected()
    ]
    if len(seeds) < DAILY_MIN_SEEDS:
        return []
    feats = lst.library.cluster
    seed_arr = np.array(seeds)
    k = max(1, min(MAX_DAILY_MIXES, len(seeds) // SEEDS_PER_CLUSTER))
    labels = kmeans(feats[seed_arr], k, seed=_seed("daily", len(seeds), *seeds[:8]))
    clusters = [seed_arr[labels == j] for j in range(k)]
    clusters = [c for c in clusters if len(c) >= DAILY_MIN_SEEDS]
    if not clusters:
        return []
    # largest first; ties by the first seed's id for stability
    clusters.sort(key=lambda c: (-len(c), cat.ids[int(c[0])]))
    centres = np.array([feats[c].mean(axis=0) for c in clusters])
    taken = np.zeros(cat.n, bool)
    taken[seed_arr] = True
    pool = np.flatnonzero(~taken & ~lst.rejected)
    if len(pool):
        d = ((feats[pool][:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        nearest = np.argmin(d, axis=1)
        dist = d[np.arange(len(pool)), nearest]
    else:
        nearest = dist = np.zeros(0)
    rng = np.random.default_rng(_seed("daily-topup", day_key))
    mixes: list[Mix] = []
    for j, members in enumerate(clusters):
        own = sorted(
            (int(r) for r in members),
            key=lambda r: (-lst.stats[cat.ids[r]].affinity(), cat.ids[r]),
        )[: max(1, int(size * DAILY_SEED_SHARE))]
        need = size - len(own)
        mine = pool[nearest == j]
        mine_d = dist[nearest == j]
        order = np.lexsort((mine, mine_d))
        near = mine[order][: 2 * need]
        if len(near) > need:
            chosen = rng.choice(len(near), size=need, replace=False)
            near = near[np.sort(chosen)]
        extra = [int(r) for r in near]
        rows: list[int] = []
        for i in range(max(len(own), len(extra))):
            if i < len(own):
                rows.append(own[i])
            if i < len(extra):
                rows.append(extra[i])
        if len(rows) < min(MIN_MIX_TRACKS, size):
            continue
        seed_tracks = [lst.tracks[r] for r in own]
        words = _mean_words(seed_tracks)
        lead = " ".join(words[:2]).capitalize() if words else f"Daily Mix {len(mixes) + 1}"
        artists = _artists_phrase([t.artist for t in seed_tracks])
        mixes.append(
            Mix(
                f"daily-{len(mixes) + 1}",
                "daily",
                f"{lead} · {artists}",
                f"Songs you love that sound alike ({artists}), with similar ones you play less.",
                _ids(lst, rows),
                "daily",
            )
        )
    return mixes


def _discover(lst: _Listener, week_key: str, size: int) -> Mix | None:
    cat = lst.catalog
    unplayed = np.array([i for i, tid in enumerate(cat.ids) if tid not in lst.stats], dtype=np.int64)
    if len(unplayed) < min(MIN_MIX_TRACKS, size):
        return None
    if lst.taste is not None:
        rel = lst.taste[unplayed].copy()
        if lst.skip_sim is not None:
            rel -= DISCOVER_SKIP_WEIGHT * lst.skip_sim[unplayed]
        description = "New to you: close to what you play, away from what you skip. Changes weekly."
    else:
        rel = np.zeros(len(unplayed))
        description = "New to you, from all over the library. Changes weekly."
    if lst.cf is not None:
        rel = rel + DISCOVER_CF_WEIGHT * 2.0 * (lst.cf[unplayed] - 0.5)
        description = (
            "New to you: what listeners who share your taste play, close to your own. Changes weekly."
        )
    rng = np.random.default_rng(_seed("discover", week_key))
    rel = rel + DISCOVER_JITTER * rng.random(len(unplayed))
    top = np.argsort(-rel, kind="stable")[: 4 * size]
    cand = unplayed[top]
    vectors = cat.taste[cand].astype(np.float64)
    artists = [lst.tracks[int(r)].artist for r in cand]
    picked = mmr_order(rel[top], vectors, artists, size, DISCOVER_MMR_LAMBDA)
    return Mix("discover", "discover", "Discover", description, _ids(lst, cand[picked]), "weekly")


def _release_radar(
    lst: _Listener, added_at: Mapping[str, float] | None, now_s: float, size: int
) -> Mix | None:
    if not added_at:
        return None
    cat = lst.catalog
    new = [
        cat.row[tid]
        for tid, at in added_at.items()
        if tid in cat.row and now_s - RELEASE_WINDOW_S <= at <= now_s and not lst.rejected[cat.row[tid]]
    ]
    artist_plays: Counter[str] = Counter()
    for tid, s in lst.stats.items():
        if (s.completions > 0 or s.likes > 0) and not s.rejected():
            artist_plays[lst.tracks[cat.row[tid]].artist] += s.completions + s.likes
    by_artist = [r for r in new if artist_plays[lst.tracks[r].artist] > 0]
    others = [r for r in new if artist_plays[lst.tracks[r].artist] == 0]
    by_artist.sort(key=lambda r: (-artist_plays[lst.tracks[r].artist], -added_at[cat.ids[r]], cat.ids[r]))
    taste = lst.taste
    if taste is not None:
        others.sort(key=lambda r: (-float(taste[r]), -added_at[cat.ids[r]], cat.ids[r]))
    else:
        others.sort(key=lambda r: (-added_at[cat.ids[r]], cat.ids[r]))
    rows = (by_artist + others)[:size]
    if len(rows) < min(MIN_MIX_TRACKS, size):
        return None
    return Mix(
        "release-radar",
        "release_radar",
        "Release Radar",
        "Added in the last two weeks: artists you play first, then new tracks near your taste.",
        _ids(lst, rows),
        "daily",
    )


def _ranked(lst: _Listener, rows: list[int], fit: Sequence[float], size: int) -> list[int]:
    """``rows`` by taste (+ 0.1 × fit) or, on a cold start, by fit; the best ``size``."""
    taste = lst.taste
    if taste is not None:
        keys = [float(taste[r]) + 0.1 * f for r, f in zip(rows, fit, strict=True)]
    else:
        keys = list(fit)
    order = sorted(range(len(rows)), key=lambda i: (-keys[i], lst.catalog.ids[rows[i]]))
    return [rows[i] for i in order[:size]]


def _smooth(lst: _Listener, rows: list[int]) -> list[int]:
    if not rows:
        return rows
    cat = lst.catalog
    idx = np.array(rows)
    order = smooth_order(cat.tempo_bpm[idx], cat.key[idx], cat.major[idx])
    return [rows[i] for i in order]


def _activity(lst: _Listener, rule: ActivityRule, size: int) -> Mix | None:
    accepted, fits = lst.library.activity[rule.id]
    keep = ~lst.rejected[accepted]
    rows = [int(r) for r in accepted[keep]]
    if len(rows) < min(MIN_MIX_TRACKS, size):
        return None
    chosen = _ranked(lst, rows, [float(f) for f in fits[keep]], size)
    if rule.order == "arc":
        arc = arc_order([lst.tracks[r].energy for r in chosen])
        chosen = [chosen[i] for i in arc]
    elif rule.order == "descending":
        chosen = sorted(chosen, key=lambda r: (-lst.tracks[r].energy, -lst.tracks[r].tempo_bpm))
    else:
        chosen = _smooth(lst, chosen)
    return Mix(rule.id, "activity", rule.title, rule.description, _ids(lst, chosen), "daily")


def _daylist(lst: _Listener, local: datetime, size: int) -> Mix | None:
    weekday, part = daypart(local)
    goal = time_of_day_prior(local).energy
    off = np.abs(lst.library.energy - goal)
    rows = [int(r) for r in np.flatnonzero(~lst.rejected & (off <= DAYLIST_ENERGY_BAND))]
    if len(rows) < min(MIN_MIX_TRACKS, size):
        return None
    fit = [1.0 - float(off[r]) for r in rows]
    chosen = _smooth(lst, _ranked(lst, rows, fit, size))
    words = _mean_words([lst.tracks[r] for r in chosen])[:2]
    title = " ".join([*words, weekday, part])
    return Mix(
        "daylist",
        "daylist",
        title,
        f"For your {weekday} {part}: tracks that fit the hour, picked from your taste. Changes each daypart.",
        _ids(lst, chosen),
        "daypart",
    )


def build_mixes(
    tracks: Sequence[Track],
    events: Sequence[LogEvent],
    *,
    listener_local: datetime,
    now_s: float,
    added_at: Mapping[str, float] | None = None,
    size: int = 30,
) -> list[Mix]:
    """Every mix the listener has now (module docstring: the rules), in a fixed order: daylist,
    On Repeat, Daily Mixes, Discover, Release Radar, Repeat Rewind, then the activity mixes.

    Args:
        tracks: the library (any order; duplicate ids: the first is kept).
        events: the listener's log (any order; other kinds and unknown tracks are ignored).
        listener_local: the listener's local time now, timezone-aware (day, week, daypart).
        now_s: server time now, Unix seconds.
        added_at: when each track was added to the library, Unix seconds by id (Release Radar).
        size: the most tracks a mix holds.
    """
    return MixBuilder(tracks, added_at=added_at).build(
        events, listener_local=listener_local, now_s=now_s, size=size
    )


class CfScores(Protocol):
    """Collaborative-filtering scores for a listener (``player.cf.CfModel`` is one)."""

    def scores(
        self, listener_id: str, events: Sequence[LogEvent], track_ids: Sequence[str]
    ) -> np.ndarray | None: ...


class MixBuilder:
    """:func:`build_mixes` for one library, many builds: the library's matrices are made once (a
    server builds every listener's mixes from one; at 100k tracks that saves most of a build).

    With ``cf`` (the shared server's collaborative-filtering model), Discover also ranks by what
    listeners of similar taste play (:data:`DISCOVER_CF_WEIGHT`); the score is only ever a number per
    track, never another listener's history.
    """

    def __init__(
        self,
        tracks: Sequence[Track],
        *,
        added_at: Mapping[str, float] | None = None,
        cf: CfScores | None = None,
    ) -> None:
        unique: dict[str, Track] = {}
        for t in tracks:
            unique.setdefault(str(t.id), t)
        # sorted by id: the mixes do not depend on the order the library comes in
        self.tracks: tuple[Track, ...] = tuple(unique[k] for k in sorted(unique))
        self.catalog = Catalog(self.tracks, _TrackMatrix(self.tracks)) if self.tracks else None
        self.library = _Library.of(self.tracks) if self.tracks else None
        self.added_at = added_at
        self.cf = cf

    def build(
        self, events: Sequence[LogEvent], *, listener_local: datetime, now_s: float, size: int = 30
    ) -> list[Mix]:
        """The listener's mixes (:func:`build_mixes`, with this builder's library and ``added_at``)."""
        if self.catalog is None or self.library is None or size < 1:
            return []
        lst = _read_listener(self.tracks, self.catalog, self.library, events, now_s)
        if self.cf is not None and events:
            scores = self.cf.scores(events[0].listener_id, events, self.catalog.ids)
            if scores is not None:
                lst = replace(lst, cf=np.asarray(scores, dtype=np.float64))
        return _build(lst, listener_local, now_s, self.added_at, size)


def _build(
    lst: _Listener, listener_local: datetime, now_s: float, added_at: Mapping[str, float] | None, size: int
) -> list[Mix]:
    day_key = listener_local.date().isoformat()
    iso = listener_local.isocalendar()
    week_key = f"{iso.year}-W{iso.week}"
    found: list[Mix | None] = [_daylist(lst, listener_local, size), _on_repeat(lst, size)]
    found += _daily(lst, day_key, size)
    found += [
        _discover(lst, week_key, size),
        _release_radar(lst, added_at, now_s, size),
        _rewind(lst, now_s, size),
    ]
    found += [_activity(lst, rule, size) for rule in ACTIVITY_RULES]
    return [m for m in found if m is not None]
