"""Errors of the player layer, under the one root :class:`mood.errors.CadenceError`.

Each class has a stable ``code`` (sent in ``error`` messages on the wire)::

    CadenceError ("internal")                 mood.errors: the root and the audio errors
    ├── LibraryError ("library")              the music library and its feature store
    │   └── NoLibraryError ("library_empty")  no tracks to rank
    ├── StoreError ("database")               library.db or log.db cannot be opened (permissions, disk, lock)
    │   ├── DatabaseCorruptError ("database_corrupt")  not a SQLite file, or fails PRAGMA quick_check
    │   └── BackupError ("backup_failed")     `cadence backup` could not write a copy
    ├── RankerError ("ranker")                the ONNX ranker file
    │   ├── ModelMissingError ("model_missing")
    │   ├── ModelCorruptError ("model_corrupt")
    │   └── SchemaMismatchError ("model_schema_mismatch")
    ├── ListenerErasedError ("listener_erased") a write for a listener erased while the session was open
    ├── ProtocolError ("bad_message")         a malformed client message; the code says which rule
    └── DeviceError ("no_audio_device")       sound card missing or not usable (cadence listen)
"""

from __future__ import annotations

from mood.errors import AudioError, CadenceError, EngineError

__all__ = [
    "AudioError",
    "BackupError",
    "CadenceError",
    "DatabaseCorruptError",
    "DeviceError",
    "EngineError",
    "LibraryError",
    "ListenerErasedError",
    "ModelCorruptError",
    "ModelMissingError",
    "NoLibraryError",
    "ProtocolError",
    "RankerError",
    "SchemaMismatchError",
    "StoreError",
]


class LibraryError(CadenceError):
    """The music library or its feature store cannot do what was asked."""

    code = "library"


class NoLibraryError(LibraryError):
    """The library has no tracks."""

    code = "library_empty"


class StoreError(CadenceError):
    """A database in the home (library.db, log.db) cannot be opened or used; the message says what to
    check (free space, permissions, another program holding a lock)."""

    code = "database"


class DatabaseCorruptError(StoreError):
    """The database file is damaged: not a SQLite file, or ``PRAGMA quick_check`` finds faults. The
    file is left as it is; the message says how to restore it from a backup or start afresh."""

    code = "database_corrupt"


class BackupError(StoreError):
    """`cadence backup` could not write or finish a copy (the databases themselves are unharmed)."""

    code = "backup_failed"


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


class ListenerErasedError(CadenceError):
    """The listener was erased (``cadence forget``) while this session was open: nothing more of it
    is written, and the server closes the session."""

    code = "listener_erased"


class ProtocolError(CadenceError):
    """A client message that breaks the protocol; ``code`` names the rule (see docs/protocol.md)."""

    code = "bad_message"


class DeviceError(CadenceError):
    """No usable sound device; the message names what is missing and how to choose one."""

    code = "no_audio_device"
