"""Sentence embeddings and the exemplar memory: what the recommender's kNN relies on."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from learning import LearningState, Recommender, update
from learning.embedding import DIMENSIONS, Encoder, Vectors
from learning.exemplars import ExemplarConfig, apply_batch, decode, encode
from models.events import ExecutionRecorded
from models.tools import ErrorKind, ToolSpec
from tables.learned import TermIndex, learning_state


def record(tool: str, text: str, ok: bool, kind: ErrorKind | None = None) -> ExecutionRecorded:
    return ExecutionRecorded(
        intent_id="i",
        call_id="c",
        tool=tool,
        attempt=1,
        ok=ok,
        error_kind=kind if not ok else None,
        started_at=0.0,
        occurred_at=0.0,
        latency_ms=1.0,
        intent_text=text,
    )


def test_paraphrases_embed_closer_than_other_requests(encoder: Encoder) -> None:
    vectors = encoder.embed(
        ["what is the weather in Oslo", "how cold is it in Oslo today", "share price of Acme"]
    )
    assert vectors.shape == (3, DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    paraphrase, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert paraphrase > unrelated + 0.2


def test_a_batch_embeds_each_text_as_it_would_alone(encoder: Encoder) -> None:
    texts = ["translate hello into French", "ok", "a much longer request " * 8]
    together = encoder.embed(texts)
    alone = []
    for text in texts:
        encoder._cache.clear()  # a cached row would only repeat the batch's
        alone.append(encoder.embed([text])[0])
    # Padding in the batch must not change a text's embedding (the attention mask works).
    encoder._cache.clear()
    fresh = encoder.embed(texts[::-1])[::-1]
    assert np.allclose(together, np.stack(alone), atol=1e-5)
    assert np.allclose(together, fresh, atol=1e-5)


def test_stored_vectors_keep_their_cosines() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    back = decode(encode(vectors))
    assert back.shape == vectors.shape
    assert np.abs(back @ back.T - vectors @ vectors.T).max() < 0.01


def test_memory_keeps_the_latest_per_tool_and_ignores_broken_calls(encoder: Encoder) -> None:
    store: dict[str, dict[str, object]] = {}
    config = ExemplarConfig(capacity=2)
    apply_batch(
        store,
        [
            record("weather", "rain in Oslo", True),
            record("weather", "wind in Rome", True),
            record("weather", "sun in Lima", True),
            record("quotes", "rain in Kyiv", False, ErrorKind.INVALID_ARGUMENTS),
            record("quotes", "price of Acme", False, ErrorKind.TIMEOUT),
        ],
        encoder,
        config,
    )
    kept = decode(store["weather"]["ok"])  # type: ignore[arg-type]
    assert len(kept) == 2 and store["weather"]["ok_seen"] == 3
    latest = encoder.embed(["wind in Rome", "sun in Lima"])
    assert np.allclose(kept, latest, atol=0.01)  # the oldest was dropped
    assert "ok" not in store["quotes"]
    assert len(decode(store["quotes"]["misfit"])) == 1  # type: ignore[arg-type]


def test_vectors_embedded_ahead_are_stored_and_not_run_again(encoder: Encoder) -> None:
    ahead = encoder.embed(["rain in Oslo"])[0]
    ran: list[list[str]] = []

    class Counting(Encoder):  # the real model, recording what it is asked to run
        def __init__(self) -> None:
            self.__dict__.update(encoder.__dict__)

        def embed(self, texts: Sequence[str]) -> Vectors:
            ran.append(list(texts))
            return encoder.embed(texts)

    store: dict[str, dict[str, object]] = {}
    batch = [record("weather", "rain in Oslo", True), record("weather", "wind in Rome", True)]
    apply_batch(store, batch, Counting(), ExemplarConfig(), {"rain in Oslo": ahead})
    assert ran == [["wind in Rome"]]  # the learner's worker thread already did the other
    kept = decode(store["weather"]["ok"])  # type: ignore[arg-type]
    assert np.allclose(kept, np.stack([ahead, encoder.embed(["wind in Rome"])[0]]), atol=0.01)


TOOLS = [
    ToolSpec(name="weather", server="s", tool="weather", description="Weather forecasts."),
    ToolSpec(name="svc_a", server="s", tool="svc_a", description="Internal service A."),
    ToolSpec(name="svc_b", server="s", tool="svc_b", description="Internal service B."),
]


SERVED = [
    record("svc_b", "translate good morning into French", True),
    record("svc_b", "translate thank you into Spanish", True),
    record("svc_b", "translate good night into German", True),
    record("svc_a", "latest share price of Acme", True),
    record("svc_a", "share price of Initech", True),
]


def test_served_intents_teach_paraphrases_the_descriptions_do_not_cover(encoder: Encoder) -> None:
    recommender, state = Recommender(encoder=encoder), LearningState()
    text = "translate good evening into Italian"
    cold = recommender.recommend(text, None, TOOLS, state, explore=False)
    assert cold[0].tool == "weather"  # nothing in the descriptions points elsewhere
    update(state, SERVED, encoder=encoder)
    ranked = recommender.recommend(text, None, TOOLS, state, explore=False)
    assert ranked[0].tool == "svc_b"
    assert ranked[0].components["neighbours"] > 0.0
    assert "near past intents" in ranked[0].explanation
    again = "what is the share price of Initech today"
    stock = recommender.recommend(again, None, TOOLS, state, explore=False)
    assert stock[0].tool == "svc_a"


def test_misfits_push_a_tool_down_for_similar_intents(encoder: Encoder) -> None:
    recommender, state = Recommender(encoder=encoder), LearningState()
    text = "forecast for Oslo tomorrow"
    assert recommender.recommend(text, None, TOOLS, state, explore=False)[0].tool == "weather"
    wrong = [record("weather", text, False, ErrorKind.INVALID_ARGUMENTS) for _ in range(3)]
    update(state, wrong, encoder=encoder)
    ranked = recommender.recommend(text, None, TOOLS, state, explore=False)
    assert ranked[0].tool != "weather"
    assert ranked[-1].tool == "weather"


def test_the_learned_table_layout_holds_exemplars_per_generation(encoder: Encoder) -> None:
    flat: dict[str, object] = {}
    index = TermIndex()
    state = learning_state(3, flat.get, index, flat.__setitem__)
    update(state, SERVED, encoder=encoder)
    assert {"g3|e|svc_a", "g3|e|svc_b"} <= flat.keys()
    again = learning_state(3, flat.get, index)
    ranked = Recommender(encoder=encoder).recommend(
        "translate good evening into Italian", None, TOOLS, again, explore=False
    )
    assert ranked[0].tool == "svc_b"
    other = learning_state(4, flat.get, index)  # another generation learned nothing
    cold = Recommender(encoder=encoder).recommend(
        "translate good evening into Italian", None, TOOLS, other, explore=False
    )
    assert cold[0].tool == "weather"


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_texts_embed_without_error(encoder: Encoder, text: str) -> None:
    vector = encoder.embed([text])[0]
    assert np.isfinite(vector).all()


def test_the_model_graph_embeds_as_bert_does(encoder: Encoder) -> None:
    """The ONNX graph against BERT written out in numpy (tests/unit/minilm_reference.py), on
    texts of different lengths embedded in one padded batch."""
    from learning.embedding import model_dir
    from tests.unit.minilm_reference import reference_embed

    texts = [
        "convert 5 km to miles",
        "Can I find academic research papers on this topic? I need peer-reviewed ones from 2020.",
        "x",
    ]
    folder = model_dir()
    assert folder is not None
    got = encoder.embed(texts)
    want = reference_embed(folder, texts)
    assert np.abs(got - want).max() < 1e-4
