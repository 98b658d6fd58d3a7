"""The ranker's feature schema, shared by serving and training (``models/``).

Names, order and scaling of the ranker inputs (:data:`FEATURES`, :data:`SCHEMA_VERSION`) and the terms
of the linear pre-selection (:data:`PRESELECT_TERMS`, :data:`PRESELECT_CONTEXT`) are defined here once,
so serving and training cannot drift. docs/ranking.md gives each feature's definition. A model file
carries the version and the feature list; :class:`~player.core.ranking.scorer.OnnxRanker` refuses one
trained on another schema.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DESCRIPTOR_COLUMNS",
    "FEATURES",
    "FEATURE_INDEX",
    "FEATURE_NAMES",
    "FEATURE_OFFSETS",
    "FEATURE_SCALES",
    "FINISHED_HISTORY",
    "PRESELECT_CONTEXT",
    "PRESELECT_TERMS",
    "PROPERTIES",
    "PROPERTY_HISTORY",
    "SCHEMA_VERSION",
    "FeatureSpec",
    "Property",
]

SCHEMA_VERSION = 3
"""Bump when a feature's name, order, definition or scaling changes; checked when a model loads."""


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One ranker input: its name, how the raw value is scaled ((raw - offset) / scale), what it is."""

    name: str
    offset: float
    scale: float
    doc: str


# Library descriptors given to the ranker as they are (scaled), in this order.
_DESCRIPTORS: tuple[tuple[str, float, float, str], ...] = (
    ("tempo_bpm", 120.0, 40.0, "beats per minute"),
    ("energy", 0.5, 0.25, "0–1 intensity"),
    ("valence", 0.5, 0.25, "0–1 positiveness"),
    ("danceability", 0.5, 0.25, "0–1"),
    ("acousticness", 0.5, 0.25, "0–1"),
    ("loudness_db", -14.0, 6.0, "integrated loudness, LUFS"),
    ("beat_strength", 0.5, 0.25, "0–1"),
    ("onset_rate", 3.0, 2.0, "onsets per second"),
    ("hp_ratio", 0.5, 0.25, "harmonic share of energy, 0–1"),
    ("mode_major", 0.5, 0.5, "1 major, 0 minor"),
    ("duration_s", 240.0, 90.0, "seconds"),
    ("spectral_centroid_hz", 2000.0, 1000.0, "Hz"),
)
DESCRIPTOR_COLUMNS: tuple[str, ...] = tuple(d[0] for d in _DESCRIPTORS)


@dataclass(frozen=True, slots=True)
class Property:
    """A musical property on which the listener's own history is read (schema 2).

    ``value = log2(column)`` when ``log`` else the column; two tracks are alike on it with weight
    ``exp(-½((a - b) / bandwidth)²)`` (``bandwidth`` 0: alike only when equal, for the mode).
    """

    name: str
    column: str
    log: bool
    bandwidth: float
    range_scale: float
    """Distance outside the enjoyed range that counts as 1 (0: not read for this property)."""


PROPERTIES: tuple[Property, ...] = (
    Property("tempo", "tempo_bpm", True, 0.12, 0.3),
    Property("energy", "energy", False, 0.08, 0.2),
    Property("valence", "valence", False, 0.08, 0.2),
    Property("brightness", "spectral_centroid_hz", True, 0.2, 0.5),
    Property("acousticness", "acousticness", False, 0.1, 0.25),
    Property("onsets", "onset_rate", True, 0.25, 0.5),
    Property("beat", "beat_strength", False, 0.1, 0.25),
    Property("mode", "mode_major", False, 0.0, 0.0),
)
"""Properties whose skip evidence the ranker reads (``skip_lean_*``, ``outside_liked_*``): rules a
listener holds about music (a tempo ceiling, no minor keys, nothing too bright) show up as skips that
share a value on one property, whatever the timbre. The ranker gets only aggregates over the
properties (max, mean), never one property's value: what it learns about one property from the
listeners it was trained on applies to every other."""
PROPERTY_HISTORY = 24
"""Recent enjoyed and rejected tracks (each) the property features read."""
FINISHED_HISTORY = 60
"""Recent finished plays the one-sided property features (``stump_skip_*``) read."""

FEATURES: tuple[FeatureSpec, ...] = (
    *(
        FeatureSpec(f"track_{name}", off, sc, f"the track's {name} ({doc})")
        for name, off, sc, doc in _DESCRIPTORS
    ),
    FeatureSpec("target_valence", 0.5, 0.25, "valence of the target for this queue position"),
    FeatureSpec("target_energy", 0.5, 0.25, "energy of the target for this queue position"),
    FeatureSpec("delta_valence", 0.0, 0.25, "track valence minus target valence (signed)"),
    FeatureSpec("delta_energy", 0.0, 0.25, "track energy minus target energy (signed)"),
    FeatureSpec("target_distance", 0.2, 0.15, "Euclidean distance to the target on the valence/energy plane"),
    FeatureSpec("intent_active", 0.0, 1.0, "1 while an explicit intent steers the target"),
    FeatureSpec("has_last_track", 0.0, 1.0, "1 if a track was started before in this state"),
    FeatureSpec(
        "tempo_step", 0.0, 0.3, "abs(log2 tempo ratio) to the last track, folded over half/double time"
    ),
    FeatureSpec(
        "key_step", 0.0, 1.0, "circle-of-fifths distance to the last track's key (relative keys equal) / 6"
    ),
    FeatureSpec("same_artist_as_last", 0.0, 1.0, "1 if by the artist of the last track"),
    FeatureSpec(
        "sim_liked_max", 0.0, 0.5, "max weighted cosine similarity (taste vector) to recent likes/completions"
    ),
    FeatureSpec(
        "sim_liked_mean", 0.0, 0.5, "cosine similarity to the weighted centroid of recent likes/completions"
    ),
    FeatureSpec("sim_skipped_max", 0.0, 0.5, "max weighted cosine similarity to recent skips/dislikes"),
    FeatureSpec(
        "sim_skipped_mean", 0.0, 0.5, "cosine similarity to the weighted centroid of recent skips/dislikes"
    ),
    FeatureSpec("n_liked", 0.0, 1.0, "log1p(number of recent likes/completions)"),
    FeatureSpec("n_skipped", 0.0, 1.0, "log1p(number of recent skips/dislikes)"),
    FeatureSpec("never_played", 0.0, 1.0, "1 if this listener never started the track"),
    FeatureSpec(
        "hours_since_played", 0.0, 3.0, "log1p(hours since the listener last started it); 0 if never"
    ),
    FeatureSpec("track_plays", 0.0, 1.0, "log1p(starts of the track by this listener)"),
    FeatureSpec("track_skip_share", 0.0, 1.0, "skips / (starts + 1) for the track"),
    FeatureSpec("track_early_skips", 0.0, 1.0, "log1p(early skips, < 30 s, of the track)"),
    FeatureSpec("track_like_balance", 0.0, 1.0, "likes minus dislikes of the track, clipped to ±3"),
    FeatureSpec("artist_plays", 0.0, 1.0, "log1p(starts of the artist's tracks)"),
    FeatureSpec("artist_skip_share", 0.0, 1.0, "skips / (starts + 1) over the artist's tracks"),
    FeatureSpec("tod_sin", 0.0, 1.0, "sin(2π · local hour / 24)"),
    FeatureSpec("tod_cos", 0.0, 1.0, "cos(2π · local hour / 24)"),
    FeatureSpec("weekend", 0.0, 1.0, "1 on Saturday and Sunday (client-local)"),
    FeatureSpec("recent_skip_rate", 0.25, 0.25, "share of the last 10 finished plays skipped (prior 0.25)"),
    FeatureSpec("session_position", 0.0, 1.0, "log1p(tracks started in this session)"),
    FeatureSpec("consecutive_early_skips", 0.0, 2.0, "early skips in a row, capped at 5"),
    FeatureSpec(
        "skip_lean_max",
        0.0,
        0.5,
        "max over PROPERTIES of (rejected − enjoyed) / (rejected + enjoyed + 1), recent tracks weighted "
        "by how alike they are to this one on that property",
    ),
    FeatureSpec("skip_lean_mean", 0.0, 0.25, "mean of the same over PROPERTIES"),
    FeatureSpec(
        "outside_liked_max",
        0.0,
        1.0,
        "max over PROPERTIES of the distance outside the range of recently enjoyed tracks / the "
        "property's range_scale (0 inside, or before anything was enjoyed)",
    ),
    FeatureSpec("outside_liked_mean", 0.0, 0.5, "mean of the same over PROPERTIES"),
    FeatureSpec(
        "stump_skip_max",
        0.0,
        0.25,
        "max over PROPERTIES of how much worse than the listener's mean the recent finished plays at or "
        "beyond this track's value went (the worse side; the same mode for the mode)",
    ),
    FeatureSpec("stump_skip_mean", 0.0, 0.1, "mean of the same over PROPERTIES"),
    FeatureSpec(
        "minutes_since_heard",
        0.0,
        3.0,
        "log1p(minutes since the listener's mood was last heard, capped at 600); log1p(600) if never",
    ),
    FeatureSpec("heard_this_session", 0.0, 1.0, "1 if the listener's mood was heard in this session"),
    FeatureSpec(
        "cf_score",
        0.5,
        0.25,
        "collaborative-filtering score of the track for this listener (0–1, 0.5 typical or unknown; "
        "listeners of similar taste on the same server), 0.5 without a CF model or a fold-in",
    ),
    FeatureSpec("cf_known", 0.0, 1.0, "1 if a CF model scored this listener (else cf_score is 0.5)"),
    FeatureSpec(
        "lyrics_valence",
        0.5,
        0.25,
        "valence of the track's lyrics (0–1) from the text-affect model; 0.5 if none",
    ),
    FeatureSpec("has_lyrics", 0.0, 1.0, "1 if lyrics were found for the track (tags or sidecar)"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURE_OFFSETS = np.array([f.offset for f in FEATURES], dtype=np.float32)
"""Per feature, the offset subtracted from the raw value, float32 [len(FEATURES)]."""
FEATURE_SCALES = np.array([f.scale for f in FEATURES], dtype=np.float32)
"""Per feature, the scale the raw value is divided by, float32 [len(FEATURES)]."""
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}
"""Column of each feature name in an assembled row."""

PRESELECT_TERMS: tuple[str, ...] = (
    *(f"track_{d}" for d in DESCRIPTOR_COLUMNS),
    "delta_valence",
    "delta_energy",
    "target_distance",
    "delta_valence_sq",
    "delta_energy_sq",
    "sim_liked_mean",
    "sim_skipped_mean",
)
"""Terms of the linear pre-selection score: scaled features cheap to compute for every track."""
PRESELECT_CONTEXT: tuple[str, ...] = (
    "bias",
    "n_liked",
    "n_skipped",
    "recent_skip_rate",
    "consecutive_early_skips",
    "intent_active",
)
"""Decision-level features that modulate the pre-selection weights: the weight of a term is
``W[term] @ context``, so the proxy leans on skip similarity after skips, on distance with an intent."""
