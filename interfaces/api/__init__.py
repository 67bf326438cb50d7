"""The HTTP API under /api: one module per resource.

Each resource module has ``ROUTES`` (Starlette routes, paths starting with /api) and ``PATHS``
(its OpenAPI path items), and may have ``SCHEMAS`` (OpenAPI component schemas it refers to).
To add a resource, write such a module and list it in ``RESOURCES``; /api/openapi.json picks
it up. Handlers reach the worker through ``interfaces.webcontext.web_context(request)`` and
raise ``interfaces.web_errors.BadRequest`` / ``NotFound`` for the client's mistakes.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from starlette.routing import BaseRoute

RESOURCES: tuple[str, ...] = (
    "interfaces.api.intents",
    "interfaces.api.tools",
    "interfaces.api.recommend",
    "interfaces.api.plan",
    "interfaces.api.stats",
    "interfaces.api.budgets",
    "interfaces.api.content",
    "interfaces.api.openapi",
)


def resources() -> list[ModuleType]:
    return [importlib.import_module(name) for name in RESOURCES]


def routes() -> list[BaseRoute]:
    return [route for module in resources() for route in module.ROUTES]
