"""The built-in planner hands an intent's content parts to the tools that take them."""

from __future__ import annotations

from mcp.types import AudioContent, ImageContent

from agents.plan_builder import PlanningError, keyword_ranker, plan_steps
from models import IntentSubmitted, RetryPolicy, ToolSpec
from models.content import part_from_bytes
from tools.content import mcp_form
from tools.samples import sample_image, sample_wav


def _content_schema(name: str, kind: type[ImageContent] | type[AudioContent]) -> dict[str, object]:
    return {
        "type": "object",
        "properties": {name: kind.model_json_schema()},
        "required": [name],
    }


METADATA = ToolSpec(
    name="images.metadata",
    server="images",
    tool="metadata",
    description="Width, height and format of an image",
    input_schema=_content_schema("image", ImageContent),
    read_only=True,  # the planner may choose it unnamed
    open_world=False,
)
LOUDNESS = ToolSpec(
    name="audio.loudness",
    server="audio",
    tool="loudness",
    description="Duration and loudness of an audio clip or image",
    input_schema=_content_schema("audio", AudioContent),
    read_only=True,  # the planner may choose it unnamed
    open_world=False,
)
TOOLS = {spec.name: spec for spec in (METADATA, LOUDNESS)}
IMAGE = part_from_bytes(sample_image(8, 8), "image/png")
CLIP = part_from_bytes(sample_wav(0.05), "audio/wav")


def test_an_image_part_fills_the_image_argument_in_mcp_form() -> None:
    intent = IntentSubmitted(text="what size is this image", content=[IMAGE])
    [step] = plan_steps(intent, TOOLS, keyword_ranker, RetryPolicy())
    assert step.tool == "images.metadata"
    assert step.arguments == {"image": mcp_form(IMAGE)}


def test_a_tool_whose_part_is_missing_is_not_planned() -> None:
    # The audio tool's description also says "image", but the intent has no audio clip.
    intent = IntentSubmitted(text="what size is this image", content=[IMAGE])
    [step] = plan_steps(intent, TOOLS, keyword_ranker, RetryPolicy())
    assert step.fallbacks == []
    bare = IntentSubmitted(text="what size is this image")
    try:
        plan_steps(bare, TOOLS, keyword_ranker, RetryPolicy())
    except PlanningError as exc:
        # The agent is told which argument to send (issue 11), not that no tool exists.
        assert exc.kind == "missing_arguments" and exc.missing["images.metadata"] == ["image"]
    else:
        raise AssertionError("planned a tool without the image it needs")


def test_a_named_tool_gets_the_part_too() -> None:
    intent = IntentSubmitted(text="x", tool="audio.loudness", content=[IMAGE, CLIP])
    [step] = plan_steps(intent, TOOLS, keyword_ranker, RetryPolicy())
    assert step.arguments == {"audio": mcp_form(CLIP)}
