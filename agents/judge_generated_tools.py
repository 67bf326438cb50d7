"""judge_generated_tools: GeneratedToolSubmitted -> a verdict, and an accepted tool registered.

The verdict (``tools.sandbox.judge``: name, schema, the static layer) goes to the registry
topic; an accepted tool is registered there as ``<settings.generated_server>.<name>`` at its
version, served by each worker's own sandbox (every worker installs it when its registry
view sees the registration; ``agents.tool_mesh``). From then on it is planned, called,
recorded and learned like any other tool. A version registered before with other source is
refused: a changed tool is a new version.
"""

from __future__ import annotations

import logging
from typing import Any

from agents.boundary import each_message
from agents.runtime import get_runtime
from agents.tool_mesh import generated_node
from models import GeneratedToolJudged, GeneratedToolSubmitted, ToolSpec
from models.ids import derived_id
from models.registry import NodeAdded, ToolRegistered, registry_key
from streams.app import app, settings
from streams.topics import generated_tools_topic, registry_topic
from tools.sandbox.judge import judge
from tools.sandbox.limits import SandboxLimits

log = logging.getLogger(__name__)

VERSION_RULE = "version_exists"


@app.agent(generated_tools_topic, name="judge-generated-tools")
async def judge_generated_tools(stream: Any) -> None:
    models = {generated_tools_topic.get_topic_name(): GeneratedToolSubmitted}
    await each_message(stream, models, _judge)


async def _judge(event: Any, submission: GeneratedToolSubmitted) -> None:
    runtime = await get_runtime(settings)
    server = settings.generated_server
    limits = runtime.mesh.sandbox_limits() if runtime.mesh is not None else SandboxLimits()
    verdict = judge(submission, limits.source_bytes)
    if verdict.accepted and runtime.mesh is not None:
        held = runtime.mesh.catalog.version(f"{server}.{submission.name}", submission.version)
        registration = held.registration if held is not None else None
        if registration is not None and registration.source != submission.source:
            verdict = verdict.model_copy(
                update={
                    "accepted": False,
                    "rule": VERSION_RULE,
                    "message": f"{server}.{submission.name}@{submission.version} is registered "
                    "with other source; submit the change as a new version",
                }
            )
    log.info(
        "generated tool %s@%s: %s",
        submission.name,
        submission.version,
        "accepted" if verdict.accepted else f"rejected ({verdict.rule}: {verdict.message})",
    )
    await _publish(verdict)
    if not verdict.accepted:
        return
    node = generated_node(server, submission.version)
    spec = ToolSpec(
        name=f"{server}.{submission.name}",
        server=server,
        tool=submission.name,
        description=submission.description,
        input_schema=submission.input_schema,
        version=submission.version,
        # Run in the sandbox (tools.sandbox.client): it can change nothing and reach nothing.
        read_only=True,
        destructive=False,
        idempotent=True,
        open_world=False,
    )
    await _publish(
        NodeAdded(
            event_id=derived_id("node", node),
            node=node,
            server=server,
            endpoint="sandbox",
            shared=False,
        )
    )
    await _publish(
        ToolRegistered(
            event_id=derived_id("registered", submission.event_id),
            spec=spec,
            node=node,
            origin="generated",
            source=submission.source,
            submitter=submission.submitter,
        )
    )


async def _publish(event: GeneratedToolJudged | NodeAdded | ToolRegistered) -> None:
    await registry_topic.send(key=registry_key(event).encode(), value=event.to_bytes())
