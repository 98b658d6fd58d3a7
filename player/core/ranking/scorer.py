"""The learned scorer: an ONNX ranker file, loaded and checked against the feature schema.

Only onnxruntime is imported here (LightGBM stays in ``models/train.py``). The model's metadata
carries the schema version, the feature list and the pre-selection weights.

Errors: :class:`~player.errors.ModelMissingError`, :class:`~player.errors.ModelCorruptError`,
:class:`~player.errors.SchemaMismatchError` at load.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self

import numpy as np

from player.core.ranking.schema import FEATURE_NAMES, PRESELECT_CONTEXT, PRESELECT_TERMS, SCHEMA_VERSION
from player.errors import ModelCorruptError, ModelMissingError, SchemaMismatchError

if TYPE_CHECKING:
    from player.settings import Settings

__all__ = ["OnnxRanker", "Scorer", "default_ranker_path", "shipped_ranker_path"]

logger = logging.getLogger(__name__)

_DEFAULT_PRESELECT: dict[str, float] = {
    "target_distance": -1.0,
    "delta_valence_sq": -0.1,
    "delta_energy_sq": -0.1,
    "sim_liked_mean": 0.3,
    "sim_skipped_mean": -0.3,
}


class Scorer(Protocol):
    """What :class:`~player.core.ranking.Recommender` reads of its scorer (:class:`OnnxRanker` is one)."""

    preselect_weights: np.ndarray
    """[len(PRESELECT_TERMS), len(PRESELECT_CONTEXT)]: term weight = row @ decision context."""

    def score(self, features: np.ndarray) -> np.ndarray:
        """Scores of feature rows [n, len(FEATURES)] (higher is better), float32 [n]."""
        ...


class OnnxRanker:
    """The learned scorer, served with onnxruntime alone.

    The ONNX file carries metadata: ``cadence.schema_version`` (must equal :data:`SCHEMA_VERSION`),
    ``cadence.features`` (comma-separated, must equal :data:`FEATURE_NAMES`), ``cadence.preselect``
    (JSON: per :data:`PRESELECT_TERMS` a weight, or a list of weights over :data:`PRESELECT_CONTEXT`)
    and ``cadence.model_version``.
    """

    def __init__(self, session: Any, metadata: dict[str, str], path: Path | None = None) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name
        self.metadata = dict(metadata)
        self.path = path
        self.model_version = metadata.get("cadence.model_version", "unknown")
        weights: dict[str, Any] = dict(_DEFAULT_PRESELECT)
        if "cadence.preselect" in metadata:
            try:
                weights = dict(json.loads(metadata["cadence.preselect"]))
            except (ValueError, TypeError) as exc:
                raise ModelCorruptError(
                    f"ranker metadata cadence.preselect is not valid JSON: {exc}"
                ) from exc
        matrix = np.zeros((len(PRESELECT_TERMS), len(PRESELECT_CONTEXT)), np.float64)
        for i, term in enumerate(PRESELECT_TERMS):
            value = weights.get(term, 0.0)
            if isinstance(value, list):
                matrix[i, : len(value)] = [float(v) for v in value[: len(PRESELECT_CONTEXT)]]
            else:  # a plain number: a weight that does not depend on the decision context
                matrix[i, 0] = float(value)
        self.preselect_weights = matrix
        """[len(PRESELECT_TERMS), len(PRESELECT_CONTEXT)]: term weight = row @ decision context."""

    @classmethod
    def load(cls, path: Path) -> Self:
        """Load and check a ranker file. The session runs with one intra-op thread: with more,
        onnxruntime's tree ensemble splits a large batch's trees and sums their parts in another order,
        so a row's score would depend on the batch's size (``player.ranker_threads`` splits by rows).

        Raises:
            ModelMissingError: If ``path`` does not exist.
            ModelCorruptError: If it is not a readable ONNX model.
            SchemaMismatchError: If it was trained for another feature schema than this code serves.
        """
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelMissingError(f"no ranker model at {path} (run `cadence train`, or reinstall Cadence)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own (non-exported) exception types
            raise ModelCorruptError(f"ranker model {path} is not a readable ONNX model: {exc}") from exc
        meta = dict(session.get_modelmeta().custom_metadata_map)
        _check_schema(meta, session, path)
        ranker = cls(session, meta, path)
        logger.info("loaded ranker %s (version %s)", path, ranker.model_version)
        return ranker

    def score(self, features: np.ndarray) -> np.ndarray:
        """Scores of feature rows [n, len(FEATURES)] (higher is better), float32 [n]."""
        if len(features) == 0:
            return np.zeros(0, np.float32)
        out = self._session.run(None, {self._input: np.ascontiguousarray(features, dtype=np.float32)})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)


def _check_schema(meta: dict[str, str], session: Any, path: Path) -> None:
    version = meta.get("cadence.schema_version")
    if version is None:
        raise SchemaMismatchError(
            f"ranker {path} has no cadence.schema_version; this Cadence serves {SCHEMA_VERSION}"
        )
    if version != str(SCHEMA_VERSION):
        raise SchemaMismatchError(
            f"ranker {path} was trained on feature schema {version}; this Cadence serves {SCHEMA_VERSION} "
            "(retrain with `cadence train`)"
        )
    names = tuple(meta.get("cadence.features", "").split(","))
    if names != FEATURE_NAMES:
        raise SchemaMismatchError(f"ranker {path} lists other features than schema {SCHEMA_VERSION} defines")
    shape = session.get_inputs()[0].shape
    if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != len(FEATURE_NAMES)):
        raise SchemaMismatchError(
            f"ranker {path} takes input of shape {shape}, expected [n, {len(FEATURE_NAMES)}]"
        )


def default_ranker_path(settings: Settings) -> Path:
    """``settings.models_dir/ranker.onnx`` if `cadence train` made one, else the shipped model."""
    trained = settings.models_dir / "ranker.onnx"
    if trained.is_file():
        return trained
    return shipped_ranker_path()


def shipped_ranker_path() -> Path:
    """The model file shipped with Cadence: ``ranker.onnx`` package data of the ``models`` package."""
    resource = importlib.resources.files("models").joinpath("ranker.onnx")
    # setuptools installs package data as plain files (editable or not), so this is a real path.
    return Path(str(resource))
