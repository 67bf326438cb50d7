"""bench.llm_tokens: the top-k request stays the same size while the catalogue grows."""

from __future__ import annotations

from bench.llm_tokens import QUERY_SCHEMA, measure
from learning import Recommender
from models import ToolSpec


def words(text: str) -> list[str]:
    return text.split()


def catalogue(n: int) -> list[ToolSpec]:
    return [
        ToolSpec(name=f"t{i}", server="bench", tool=f"t{i}", description=f"tool number {i} "
                 f"handles topic{i} requests", input_schema=QUERY_SCHEMA)
        for i in range(n)
    ]  # fmt: skip


def test_offering_the_top_k_keeps_prompts_flat_and_counts_the_labelled_tool() -> None:
    recommender = Recommender(encoder=None)
    queries = [("please handle topic3 requests", "t3"), ("something else entirely", "t4")]
    small = measure(recommender, catalogue(10), queries, top_k=2, encode=words)
    large = measure(recommender, catalogue(100), queries, top_k=2, encode=words)
    assert small["prompt_top_k"]["median"] == large["prompt_top_k"]["median"]
    assert large["prompt_all_tools"]["median"] > 5 * small["prompt_all_tools"]["median"]
    assert small["labelled_tool_offered"] == 0.5  # t3 is matched by its words; t4 is not
