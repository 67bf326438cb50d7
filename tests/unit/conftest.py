"""Unit-test fixtures: the third-party tool listings kept in tests/data/planning/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp.types import Tool

from models import ToolSpec
from tools._specs import spec_from_mcp

SERVERS = Path(__file__).resolve().parents[1] / "data" / "planning" / "servers.json"


@pytest.fixture(scope="session")
def third_party() -> dict[str, ToolSpec]:
    """Every tool of servers.json by qualified name, annotations read as the registry does."""
    listing = json.loads(SERVERS.read_text(encoding="utf-8"))
    specs = (
        spec_from_mcp(server, Tool.model_validate(raw))
        for server, entry in listing.items()
        for raw in entry["tools"]
    )
    return {spec.name: spec for spec in specs}
