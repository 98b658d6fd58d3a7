"""Tests of player.core.ranking: the feature schema, model loading, two-stage selection, re-ranking rules,
the iso walk, cold start and the skip reaction, with the shipped ONNX ranker on synthetic catalogs."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import onnx
import pytest

from models.simulate import catalog_matrix, synthetic_catalog
from mood.types import Intent, MoodEstimate
from player.core.listener import MOOD_RELAX_S, ListenerState, PlaybackEvent, Target
from player.core.ranking import (
    DESCRIPTOR_COLUMNS,
    FEATURE_NAMES,
    FEATURES,
    PRESELECT_CONTEXT,
    PRESELECT_TERMS,
    PROPERTIES,
    SCHEMA_VERSION,
    Catalog,
    OnnxRanker,
    Recommender,
    assemble_features,
    build_context,
    default_ranker_path,
    key_step,
    preselect_design,
    shipped_ranker_path,
    tempo_step,
)
from player.core.ranking.recommender import MEET_FIRMNESS, MEET_TOLERANCE, NEW_LISTENER_PLAYS, meets_statement
from player.core.track import NUMERIC_FEATURES, Track, TrackId
from player.errors import ModelCorruptError, ModelMissingError, NoLibraryError, SchemaMismatchError
from player.settings import Settings

T0 = 1_780_000_000.0
TZ = timezone(timedelta(hours=2))
MONDAY_8 = datetime(2026, 3, 2, 8, 0, tzinfo=TZ)


@pytest.fixture(scope="module")
def ranker() -> OnnxRanker:
    return OnnxRanker.load(shipped_ranker_path())


@pytest.fixture(scope="module")
def tracks() -> list:
    return synthetic_catalog(1500, seed=31)


@pytest.fixture(scope="module")
def rec(tracks: list, ranker: OnnxRanker) -> Recommender:
    return Recommender(tracks, catalog_matrix(tracks), ranker)


def _state(local: datetime = MONDAY_8) -> ListenerState:
    return ListenerState("ana", local_time=local, at_s=T0, device="phone")


def _play(state: ListenerState, track_id: str, at_s: float, outcome: str, position_s: float = 200.0) -> float:
    state.observe_playback(PlaybackEvent("started", track_id, 0.0, at_s))
    if outcome == "early":
        state.observe_playback(PlaybackEvent("skipped", track_id, 8.0, at_s + 8))
        return at_s + 10
    if outcome == "liked":
        state.observe_playback(PlaybackEvent("liked", track_id, 60.0, at_s + 60))
    state.observe_playback(PlaybackEvent("completed", track_id, position_s, at_s + position_s))
    return at_s + position_s + 2


# ------------------------------------------------------------------------------------ the schema
def test_schema_is_defined_once_with_unique_names() -> None:
    """The feature names are unique, versioned, and the descriptors are library columns."""
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES) == len(FEATURES)
    assert isinstance(SCHEMA_VERSION, int) and SCHEMA_VERSION >= 1
    assert all(d in NUMERIC_FEATURES for d in DESCRIPTOR_COLUMNS)
    assert FEATURE_NAMES[: len(DESCRIPTOR_COLUMNS)] == tuple(f"track_{d}" for d in DESCRIPTOR_COLUMNS)
    assert all(f.scale > 0 for f in FEATURES)
    assert set(PRESELECT_TERMS) - set(FEATURE_NAMES) == {"delta_valence_sq", "delta_energy_sq"}


def test_assembled_features_follow_the_schema_order_and_scaling(tracks: list) -> None:
    """Each column is (raw - offset) / scale of its documented definition, in schema order."""
    catalog = Catalog(tracks[:200], catalog_matrix(tracks[:200]))
    state = _state(datetime(2026, 3, 7, 18, 0, tzinfo=TZ))  # a Saturday, 18:00 local
    at = _play(state, tracks[0].id, T0, "liked")
    at = _play(state, tracks[1].id, at, "early")
    target = Target(0.3, 0.7)
    ctx = build_context(state, catalog, at_s=at)
    idx = np.array([0, 1, 5, 7])
    x = assemble_features(catalog, ctx, idx, target)
    assert x.shape == (4, len(FEATURES)) and x.dtype == np.float32
    col = {name: x[:, i] for i, name in enumerate(FEATURE_NAMES)}
    t5 = tracks[5]
    assert col["track_tempo_bpm"][2] == pytest.approx((t5.tempo_bpm - 120.0) / 40.0, abs=1e-5)
    assert col["track_loudness_db"][2] == pytest.approx((t5.loudness_db + 14.0) / 6.0, abs=1e-5)
    assert col["delta_energy"][2] == pytest.approx((t5.energy - 0.7) / 0.25, abs=1e-5)
    assert col["delta_valence"][2] == pytest.approx((t5.valence - 0.3) / 0.25, abs=1e-5)
    dist = np.hypot(t5.energy - 0.7, t5.valence - 0.3)
    assert col["target_distance"][2] == pytest.approx((dist - 0.2) / 0.15, abs=1e-5)
    assert col["weekend"].tolist() == [1.0] * 4
    local = state.local_time(at)
    hour = local.hour + local.minute / 60.0
    assert local.hour == 18
    assert col["tod_cos"][0] == pytest.approx(np.cos(2 * np.pi * hour / 24), abs=1e-5)
    assert col["tod_sin"][0] == pytest.approx(np.sin(2 * np.pi * hour / 24), abs=1e-5)
    assert col["never_played"].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert col["track_early_skips"][1] == pytest.approx(np.log1p(1.0), abs=1e-6)
    assert col["track_like_balance"][0] == 1.0
    assert col["has_last_track"].tolist() == [1.0] * 4
    # the liked track is perfectly similar to itself; the skipped one to itself
    assert col["sim_liked_max"][0] == pytest.approx(1.0 / 0.5, abs=1e-4)
    assert col["sim_skipped_max"][1] == pytest.approx(1.0 / 0.5, abs=1e-4)


def test_tempo_and_key_steps() -> None:
    """Half/double time is a seamless tempo step; relative keys are equal on the circle of fifths."""
    assert tempo_step(np.array([60.0, 120.0, 240.0]), 120.0).tolist() == [0.0, 0.0, 0.0]
    assert tempo_step(np.array([70.0]), 140.0)[0] == pytest.approx(0.0, abs=1e-6)
    assert tempo_step(np.array([100.0 * 2**0.5]), 100.0)[0] == pytest.approx(0.5, abs=1e-5)
    c, g, fsharp, a = 0, 7, 6, 9
    ks = key_step(np.array([g, a, fsharp]), np.array([1.0, 0.0, 1.0]), c, True)
    assert ks.tolist() == pytest.approx([1 / 6, 0.0, 1.0])


# ------------------------------------------------------------------------------------ loading
def test_missing_model_file(tmp_path: Path) -> None:
    """A missing file is ModelMissingError (code model_missing)."""
    with pytest.raises(ModelMissingError) as err:
        OnnxRanker.load(tmp_path / "nope.onnx")
    assert err.value.code == "model_missing"


def test_corrupt_model_file(tmp_path: Path) -> None:
    """A file that is not ONNX, or a truncated one, is ModelCorruptError."""
    bad = tmp_path / "ranker.onnx"
    bad.write_bytes(b"this is not a model")
    with pytest.raises(ModelCorruptError):
        OnnxRanker.load(bad)
    bad.write_bytes(shipped_ranker_path().read_bytes()[:5000])
    with pytest.raises(ModelCorruptError) as err:
        OnnxRanker.load(bad)
    assert err.value.code == "model_corrupt"


def _with_metadata(tmp_path: Path, **changes: str | None) -> Path:
    model = onnx.load(str(shipped_ranker_path()))
    props = {p.key: p.value for p in model.metadata_props}
    for k, v in changes.items():
        key = "cadence." + k
        if v is None:
            props.pop(key, None)
        else:
            props[key] = v
    del model.metadata_props[:]
    for k, v in props.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    path = tmp_path / "ranker.onnx"
    onnx.save(model, str(path))
    return path


def test_schema_version_mismatch_is_refused(tmp_path: Path) -> None:
    """A model trained on another schema version, or with other features, is SchemaMismatchError."""
    with pytest.raises(SchemaMismatchError) as err:
        OnnxRanker.load(_with_metadata(tmp_path, schema_version=str(SCHEMA_VERSION + 1)))
    assert err.value.code == "model_schema_mismatch"
    with pytest.raises(SchemaMismatchError):
        OnnxRanker.load(_with_metadata(tmp_path, schema_version=None))
    with pytest.raises(SchemaMismatchError):
        OnnxRanker.load(_with_metadata(tmp_path, features=",".join(reversed(FEATURE_NAMES))))
    assert OnnxRanker.load(_with_metadata(tmp_path)).model_version  # unchanged copy loads


def test_shipped_model_carries_its_schema(ranker: OnnxRanker) -> None:
    """The shipped model states schema version, features and pre-selection weights in its metadata."""
    assert ranker.metadata["cadence.schema_version"] == str(SCHEMA_VERSION)
    assert ranker.metadata["cadence.features"].split(",") == list(FEATURE_NAMES)
    assert ranker.preselect_weights.shape == (len(PRESELECT_TERMS), len(PRESELECT_CONTEXT))
    assert np.abs(ranker.preselect_weights).sum() > 0


def test_default_ranker_path_prefers_a_trained_model(tmp_path: Path) -> None:
    """A model trained into HOME/models wins over the shipped one."""
    settings = Settings(home=tmp_path)
    assert default_ranker_path(settings) == shipped_ranker_path()
    settings.models_dir.mkdir()
    shutil.copy(shipped_ranker_path(), settings.models_dir / "ranker.onnx")
    assert default_ranker_path(settings) == settings.models_dir / "ranker.onnx"


def test_empty_library_is_refused(ranker: OnnxRanker) -> None:
    """No tracks: NoLibraryError, not an empty queue."""
    with pytest.raises(NoLibraryError):
        Recommender([], catalog_matrix([]), ranker)


# ------------------------------------------------------------------------------------ decisions
def test_picks_obey_the_re_ranking_rules(rec: Recommender, tracks: list) -> None:
    """No repeats within the window, never the same artist twice in a row, scores and reasons set."""
    state = _state()
    at = T0
    for t in tracks[:12]:
        at = _play(state, t.id, at, "completed")
    r = rec.recommend(state, count=10, at_s=at)
    ids = [p.track.id for p in r.picks]
    assert len(ids) == 10 == len(set(ids))
    assert not set(ids) & {t.id for t in tracks[:12]}
    artists = [tracks[11].artist] + [p.track.artist for p in r.picks]
    assert all(a != b for a, b in itertools.pairwise(artists))
    assert all(np.isfinite(p.score) and p.reason for p in r.picks)
    assert r.target == state.target(at_s=at)
    assert len(r.targets) == 10


def test_mmr_and_transitions_make_the_queue_more_varied_and_smoother(rec: Recommender, tracks: list) -> None:
    """The re-ranked queue is less redundant in timbre than the raw top 10 by score."""
    cat = rec.catalog
    redundancy_picks, redundancy_raw = [], []
    for k in range(6):
        state = _state(MONDAY_8 + timedelta(hours=3 * k))
        at = _play(state, tracks[40 + k].id, T0, "liked")
        picks = [cat.row[p.track.id] for p in rec.recommend(state, count=10, at_s=at).picks]
        raw = [cat.row[t] for t in rec.top_scored(state, at_s=at, k=10)]

        def mean_pair_sim(rows: list[int]) -> float:
            s = cat.taste[rows] @ cat.taste[rows].T
            return float(s[np.triu_indices(len(rows), 1)].mean())

        redundancy_picks.append(mean_pair_sim(picks))
        redundancy_raw.append(mean_pair_sim(raw))
    assert np.mean(redundancy_picks) < np.mean(redundancy_raw)


def test_within_restricts_the_picks(rec: Recommender, tracks: list) -> None:
    """`within` keeps the picks inside the given ids and ignores unknown ones."""
    allowed = [t.id for t in tracks[100:130]] + ["no-such-track"]
    r = rec.recommend(_state(), count=5, at_s=T0, within=allowed)
    assert len(r.picks) == 5 and {p.track.id for p in r.picks} <= set(allowed)


def test_iso_walk_targets_step_toward_the_intent(rec: Recommender) -> None:
    """With "calmer", the picks' targets fall monotonically to the goal and the picks follow."""
    state = _state(MONDAY_8 + timedelta(hours=6))
    state.observe_mood(
        MoodEstimate(valence=0.6, energy=0.85, confidence=0.9, intents=(Intent("calmer", 1.0, "calm down"),)),
        at_s=T0,
    )
    r = rec.recommend(state, count=10, at_s=T0 + 1)
    energies = [t.energy for t in r.targets]
    assert all(a >= b for a, b in itertools.pairwise(energies))
    assert energies[0] > energies[-1] + 0.2
    assert r.target == r.targets[0] == state.target(at_s=T0 + 1)
    picked = [p.track.energy for p in r.picks]
    assert np.mean(picked[:2]) > np.mean(picked[-4:]) + 0.1
    assert not any("livelier" in p.reason for p in r.picks)  # never against the request


def test_cold_start_follows_time_of_day(rec: Recommender) -> None:
    """A brand-new listener gets calmer picks at 3 am than at 3 pm, with a time-of-day reason."""
    night = rec.recommend(_state(datetime(2026, 3, 2, 3, 0, tzinfo=TZ)), count=10, at_s=T0)
    afternoon = rec.recommend(_state(datetime(2026, 3, 2, 15, 0, tzinfo=TZ)), count=10, at_s=T0)
    assert np.mean([p.track.energy for p in night.picks]) + 0.15 < np.mean(
        [p.track.energy for p in afternoon.picks]
    )
    assert "fits a Sunday night" in [p.reason for p in night.picks]  # 03:00 belongs to the night before
    assert "fits a Monday afternoon" in [p.reason for p in afternoon.picks]


def test_cold_start_follows_the_mood(rec: Recommender) -> None:
    """A new listener who sounds sad and tired gets lower-valence, lower-energy picks than a happy one."""
    sad, happy = _state(), _state()
    sad.observe_mood(MoodEstimate(valence=0.15, energy=0.2, confidence=0.9, label="sad"), at_s=T0)
    happy.observe_mood(MoodEstimate(valence=0.9, energy=0.8, confidence=0.9, label="happy"), at_s=T0)
    rs, rh = rec.recommend(sad, count=10, at_s=T0 + 1), rec.recommend(happy, count=10, at_s=T0 + 1)
    assert np.mean([p.track.valence for p in rs.picks]) + 0.2 < np.mean([p.track.valence for p in rh.picks])
    assert rs.picks[0].reason == "suits your sad mood"


def test_a_new_track_is_rankable_from_its_features_alone(ranker: OnnxRanker, tracks: list) -> None:
    """A track nobody ever played, added to the library, gets a finite score and can be picked."""
    new = replace(tracks[0], id=TrackId("brand-new"), title="Brand New", artist="Newcomer")
    library = [*tracks[:300], new]
    rec = Recommender(library, catalog_matrix(library), ranker)
    r = rec.recommend(_state(), count=1, at_s=T0, within=["brand-new"])
    assert r.picks[0].track.id == "brand-new" and np.isfinite(r.picks[0].score)


def test_after_a_like_the_reason_names_it(rec: Recommender, tracks: list) -> None:
    """Once the listener liked a track, a similar pick says "like <title>, which you liked"."""
    state = _state()
    liked = tracks[77]
    at = _play(state, liked.id, T0, "liked")
    picks = rec.recommend(state, count=10, at_s=at).picks
    named = [p for p in picks if p.reason == f"like {liked.title}, which you liked"]
    assert named
    cat = rec.catalog
    assert all(cat.taste[cat.row[p.track.id]] @ cat.taste[cat.row[liked.id]] >= 0.55 for p in named)


@pytest.mark.xfail(
    strict=True,
    reason="known gap (issue 10 open): after 3 early skips the ranker's picks do not move away in "
    "taste-vector distance (schema-2 ranker 1.23 before and after; sim-20261207 1.27 before, 1.20 after)",
)
def test_three_early_skips_push_the_picks_away(rec: Recommender, tracks: list) -> None:
    """After 3 consecutive early skips the next picks sit farther (taste vectors) from those tracks."""
    cat = rec.catalog
    before, after = [], []
    for k in range(6):
        state = _state(MONDAY_8 + timedelta(hours=2 * k))
        at = T0
        for t in tracks[200 + 5 * k : 203 + 5 * k]:
            at = _play(state, t.id, at, "completed")
        first = rec.recommend(state, count=10, at_s=at)
        skipped = [cat.row[p.track.id] for p in first.picks[:3]]
        for row in skipped:
            at = _play(state, cat.ids[row], at, "early")
        later = rec.recommend(state, count=10, at_s=at)

        def dist(rows: list[int], skipped: list[int] = skipped) -> float:
            d = np.linalg.norm(cat.taste[rows][:, None, :] - cat.taste[skipped][None, :, :], axis=2)
            return float(d.min(axis=1).mean())

        before.append(dist([cat.row[p.track.id] for p in first.picks[3:]]))
        after.append(dist([cat.row[p.track.id] for p in later.picks]))
    assert np.mean(after) > 1.1 * np.mean(before)


def test_two_stage_matches_scoring_every_track(rec: Recommender, tracks: list) -> None:
    """On a 1500-track library the pre-selected top 10 equals the exhaustive top 10 (recall@10)."""
    recalls = []
    for k in range(5):
        state = _state(MONDAY_8 + timedelta(hours=4 * k))
        at = _play(state, tracks[300 + k].id, T0, "liked")
        exhaustive = set(rec.top_scored(state, at_s=at, k=10, exhaustive=True))
        recalls.append(len(exhaustive & set(rec.top_scored(state, at_s=at, k=10))) / 10)
    assert np.mean(recalls) >= 0.95


def test_serving_proxy_equals_the_fitted_formula(rec: Recommender, tracks: list, ranker: OnnxRanker) -> None:
    """The expanded pre-selection score over the catalog equals terms @ W @ context of the assembled
    features (the form the weights were fitted in), up to a per-decision constant."""
    state = _state()
    at = _play(state, tracks[3].id, T0, "liked")
    at = _play(state, tracks[4].id, at, "early")
    state.add_intent(Intent("energize"), at_s=at)
    ctx = build_context(state, rec.catalog, at_s=at)
    target = ctx.targets[0]
    proxy, dist2 = rec.proxy_scores(ctx, target)
    idx = np.arange(0, 1500, 7)
    terms, context = preselect_design(assemble_features(rec.catalog, ctx, idx, target))
    expected = np.einsum("it,tc,ic->i", terms, ranker.preselect_weights, context)
    diff = proxy[idx] - expected
    assert np.std(diff) < 1e-3 * max(1.0, float(np.std(expected)))
    cat = rec.catalog
    true_d2 = (cat.valence[idx] - target.valence) ** 2 + (cat.energy[idx] - target.energy) ** 2
    assert np.allclose(dist2[idx], true_d2, atol=1e-5)


def test_small_library_allows_old_tracks_back(ranker: OnnxRanker, tracks: list) -> None:
    """With fewer fresh tracks than asked for, the least recently played come back instead of nothing."""
    small = tracks[:12]
    rec = Recommender(small, catalog_matrix(small), ranker)
    state = _state()
    at = T0
    for t in small[:10]:
        at = _play(state, t.id, at, "completed")
    r = rec.recommend(state, count=5, at_s=at)
    ids = [p.track.id for p in r.picks]
    assert len(ids) == 5 == len(set(ids))
    assert {small[10].id, small[11].id} <= set(ids)
    assert small[9].id not in ids  # the most recent stays out


@pytest.mark.integration
def test_recommends_from_the_scanned_demo_library(demo_home: Path, ranker: OnnxRanker) -> None:
    """The real scanned demo library (LibraryStore.feature_matrix) feeds the recommender end to end."""
    from player.library.store import LibraryStore

    with LibraryStore(demo_home / "library.db") as store:
        rec = Recommender(store.tracks(), store.feature_matrix(), ranker)
    state = _state()
    state.observe_mood(MoodEstimate(valence=0.7, energy=0.3, confidence=0.8, label="calm"), at_s=T0)
    r = rec.recommend(state, count=10, at_s=T0 + 1)
    assert len(r.picks) == 10 == len({p.track.id for p in r.picks})
    d_picks = np.mean([np.hypot(p.track.valence - 0.7, p.track.energy - 0.3) for p in r.picks[:5]])
    d_all = np.mean(
        [np.hypot(t.valence - r.target.valence, t.energy - r.target.energy) for t in rec.catalog.tracks]
    )
    assert d_picks < d_all


def test_property_features_read_a_one_sided_rule(tracks: list) -> None:
    """A listener who skips every fast track and completes slow ones: on the tempo property the
    one-sided evidence is higher for fast candidates than for slow ones; with no history every
    property feature is 0."""
    from player.core.ranking.context import _stumps

    cat = Catalog(tracks, catalog_matrix(tracks))
    order = np.argsort(cat.tempo_bpm)
    slow, fast = order[: len(order) // 3], order[-len(order) // 3 :]
    names = ("stump_skip_max", "skip_lean_max", "outside_liked_max", "stump_skip_mean", "skip_lean_mean")
    ctx0 = build_context(_state(), cat, at_s=T0)
    x0 = assemble_features(cat, ctx0, np.concatenate([slow[:20], fast[:20]]), ctx0.targets[0])
    assert all(np.all(x0[:, FEATURE_NAMES.index(n)] == 0.0) for n in names)
    state, at = _state(), T0
    for i in range(12):
        at = _play(state, cat.ids[int(fast[i * 5])], at, "early")
        at = _play(state, cat.ids[int(slow[i * 5])], at, "completed")
    ctx = build_context(state, cat, at_s=at)
    tempo = [p.name for p in PROPERTIES].index("tempo")
    # inside the range the history covers (beyond its fastest play the one-sided evidence is 0: see _stumps)
    probe_slow, probe_fast = slow[1:55:5], fast[1:55:5]
    s_slow = _stumps(cat, ctx, cat.properties[probe_slow])[:, tempo]
    s_fast = _stumps(cat, ctx, cat.properties[probe_fast])[:, tempo]
    assert s_fast.mean() > s_slow.mean() + 0.15
    x = assemble_features(cat, ctx, np.concatenate([probe_slow, probe_fast]), ctx.targets[0])
    assert np.all(x[:, FEATURE_NAMES.index("stump_skip_max")] >= 0.0)


def _plane_distance(track: Track, target: Target) -> float:
    return float(np.hypot(track.valence - target.valence, track.energy - target.energy))


def test_a_new_listener_s_statement_is_met_first(rec: Recommender, tracks: list, ranker: OnnxRanker) -> None:
    """Cold start: after a new listener says how they are, every pick sits within MEET_TOLERANCE of the
    nearest track still free (not picked, not by the previous pick's artist) to its target; the
    ranker's own queue (rule off) sits farther from the stated moods at the plane's edges."""
    off = Recommender(tracks, catalog_matrix(tracks), ranker, meet_statements=False)
    met, alone = [], []
    for v, e in ((0.88, 0.88), (0.1, 0.12), (0.88, 0.15), (0.12, 0.88), (0.5, 0.92)):
        state = _state()
        state.observe_mood(MoodEstimate(valence=v, energy=e, confidence=0.9), at_s=T0)
        assert meets_statement(state, T0 + 1)
        r = rec.recommend(state, count=10, at_s=T0 + 1)
        picked: set[str] = set()
        prev_artist = None
        for pick, target in zip(r.picks, r.targets, strict=True):
            free = [t for t in tracks if t.id not in picked]
            other = [t for t in free if t.artist != prev_artist]
            nearest = min(_plane_distance(t, target) for t in (other or free))
            assert _plane_distance(pick.track, target) <= nearest + MEET_TOLERANCE + 1e-6
            picked.add(pick.track.id)
            prev_artist = pick.track.artist
        met.append(np.mean([_plane_distance(p.track, r.target) for p in r.picks[:5]]))
        ro = off.recommend(state, count=10, at_s=T0 + 1)
        alone.append(np.mean([_plane_distance(p.track, ro.target) for p in ro.picks[:5]]))
    assert np.mean(met) < np.mean(alone)


def test_the_ranker_leads_once_the_listener_is_known(
    rec: Recommender, tracks: list, ranker: OnnxRanker
) -> None:
    """The rule leaves the queue to the ranker for a listener with more than NEW_LISTENER_PLAYS finished
    plays, for a vague reading, after an early skip since the reading, for a stale reading, and before
    any reading."""
    off = Recommender(tracks, catalog_matrix(tracks), ranker, meet_statements=False)
    firm = MoodEstimate(valence=0.9, energy=0.9, confidence=0.9)

    def same(state: ListenerState, at: float) -> bool:
        assert not meets_statement(state, at)
        ids = [p.track.id for p in rec.recommend(state, count=10, at_s=at).picks]
        return ids == [p.track.id for p in off.recommend(state, count=10, at_s=at).picks]

    known = _state()
    at = T0
    for t in tracks[200 : 201 + NEW_LISTENER_PLAYS]:
        at = _play(known, t.id, at, "completed")
    assert known.finished_plays == NEW_LISTENER_PLAYS + 1
    known.observe_mood(firm, at_s=at)
    assert same(known, at + 1)

    vague = _state()
    vague.observe_mood(MoodEstimate(valence=0.9, energy=0.9, confidence=MEET_FIRMNESS / 2), at_s=T0)
    assert same(vague, T0 + 1)

    turned_down = _state()  # the listener skipped one of the picks early since saying it
    turned_down.observe_mood(firm, at_s=T0)
    assert meets_statement(turned_down, T0 + 1)
    at = _play(turned_down, tracks[300].id, T0 + 1, "early")
    assert turned_down.rejected_since_heard == 1 and same(turned_down, at)
    turned_down.observe_mood(firm, at_s=at + 1)  # said again: met again
    assert meets_statement(turned_down, at + 2)

    stale = _state()
    stale.observe_mood(firm, at_s=T0)
    assert meets_statement(stale, T0 + MOOD_RELAX_S)
    assert same(stale, T0 + MOOD_RELAX_S + 1)

    assert same(_state(), T0)
