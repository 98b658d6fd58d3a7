"""docs/protocol.md read as data: its JSON Schemas and examples, so tests can hold messages to it."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


@cache
def documented_schemas() -> dict[str, dict[str, Any]]:
    """Message type -> its JSON Schema, as written in docs/protocol.md."""
    blocks = re.findall(r"```json schema\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    schemas = [json.loads(b) for b in blocks]
    return {s["properties"]["type"]["const"]: s for s in schemas}


def documented_examples() -> list[dict[str, Any]]:
    """Every ```json example block of docs/protocol.md, parsed."""
    blocks = re.findall(r"```json example\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    return [json.loads(b) for b in blocks]


def check_documented(message: dict[str, Any]) -> None:
    """Fail unless ``message`` validates against the schema docs/protocol.md gives for its type."""
    jsonschema.validate(message, documented_schemas()[message["type"]])
