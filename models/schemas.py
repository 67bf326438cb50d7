"""JSON Schema export, so any Kafka client can publish valid events."""

from __future__ import annotations

import json
from pathlib import Path

from models.events import EVENT_TYPES
from models.experiments import EXPERIMENT_EVENT_TYPES
from models.registry import REGISTRY_EVENT_TYPES


def json_schemas() -> dict[str, dict[str, object]]:
    return {
        cls.__name__: cls.model_json_schema()
        for cls in EVENT_TYPES + EXPERIMENT_EVENT_TYPES + REGISTRY_EVENT_TYPES
    }


def export_schemas(directory: Path) -> list[Path]:
    """Write one ``<Event>.schema.json`` per event type; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
