"""Errors of the player layer, under the one root :class:`mood.errors.CadenceError`.

Each class has a stable ``code`` (sent in ``error`` messages on the wire)::

    CadenceError ("internal")                 mood.errors: the root and the audio errors
    ├── LibraryError ("library")              the music library and its feature store
    │   └── NoLibraryError ("library_empty")  no tracks to rank
    ├── RankerError ("ranker")                the ONNX ranker file
    │   ├── ModelMissingError ("model_missing")
    │   ├── ModelCorruptError ("model_corrupt")
    │   └── SchemaMismatchError ("model_schema_mismatch")
    ├── ProtocolError ("bad_message")         a malformed client message; the code says which rule
    └── DeviceError ("no_audio_device")       sound card missing or not usable (cadence listen)
"""

from __future__ import annotations

from mood.errors import AudioError, CadenceError, EngineError

__all__ = [
    "AudioError",
    "CadenceError",
    "DeviceError",
    "EngineError",
    "LibraryError",
    "ModelCorruptError",
    "ModelMissingError",
    "NoLibraryError",
    "ProtocolError",
    "RankerError",
    "SchemaMismatchError",
]


class LibraryError(CadenceError):
    """The music library or its feature store cannot do what was asked."""

    code = "library"


class NoLibraryError(LibraryError):
    """The library has no tracks."""

    code = "library_empty"


class RankerError(CadenceError):
    """The ranker model cannot be loaded or run."""

    code = "ranker"


class ModelMissingError(RankerError):
    """The ranker file does not exist."""

    code = "model_missing"


class ModelCorruptError(RankerError):
    """The ranker file is not a readable ONNX model."""

    code = "model_corrupt"


class SchemaMismatchError(RankerError):
    """The ranker was trained on another feature schema version than this code serves."""

    code = "model_schema_mismatch"


class ProtocolError(CadenceError):
    """A client message that breaks the protocol; ``code`` names the rule (see docs/protocol.md)."""

    code = "bad_message"


class DeviceError(CadenceError):
    """No usable sound device; the message names what is missing and how to choose one."""

    code = "no_audio_device"
