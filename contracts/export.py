"""JSON Schema export of every contract (`krx schema`), checked against the committed copies."""

from __future__ import annotations

import json
from pathlib import Path

from contracts import SCHEMA_MODELS

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


def render_schemas() -> dict[str, str]:
    """Schema file name → JSON text, deterministic (sorted keys, trailing newline)."""
    return {
        f"{name}.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True,
                                   ensure_ascii=False) + "\n"
        for name, model in SCHEMA_MODELS.items()
    }


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files that are missing or differ from the models."""
    stale = []
    for name, text in render_schemas().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale
