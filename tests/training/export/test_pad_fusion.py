"""Folding zero ``Pad`` into ``Conv``: the same outputs, no ``Pad`` left, only where it is safe."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from training.export.pad_fusion import fuse_pads
from training.towers.efficientnet_lite import Conv2dStaticSame


class SameStack(nn.Module):
    """EfficientNet-Lite's TF-"SAME" convolutions: asymmetric (stride 2) and symmetric pads."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = Conv2dStaticSame(3, 8, 3, 2, image_size=16)  # pads (0, 1): asymmetric
        self.depthwise = Conv2dStaticSame(8, 8, 5, 2, image_size=8, groups=8)  # (1, 2)
        self.same = Conv2dStaticSame(8, 4, 3, 1, image_size=4)  # (1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.same(self.depthwise(self.stem(x)))
        return y


def _exported(module: nn.Module, example: torch.Tensor) -> onnx.ModelProto:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        _export_to(module, example, path)
        return onnx.load(str(path))


def _export_to(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    torch.onnx.export(
        module.eval(),
        (example,),
        str(path),
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": x})
    return np.asarray(y)


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def test_the_exported_same_pads_fold_into_the_convolutions_with_the_same_outputs() -> None:
    torch.manual_seed(0)
    module = SameStack()
    x = torch.randn(3, 3, 16, 16)
    model = _exported(module, x)
    assert _ops(model).count("Pad") == 3  # what the exporter writes today
    before = _run(model, x.numpy())

    assert fuse_pads(model) == 3
    onnx.checker.check_model(model, full_check=True)
    assert "Pad" not in _ops(model)
    assert not {"ConstantOfShape", "Slice", "Transpose"} & set(_ops(model))  # dead shape ops gone
    pads = [list(a.ints) for n in model.graph.node if n.op_type == "Conv" for a in n.attribute
            if a.name == "pads"]  # fmt: skip
    assert pads == [[0, 0, 1, 1], [1, 1, 2, 2], [1, 1, 1, 1]]  # begins (h, w), then ends
    after = _run(model, x.numpy())
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-6)
    with torch.inference_mode():
        np.testing.assert_allclose(after, module(x).numpy(), rtol=1e-5, atol=1e-5)


def _pad_conv_graph(
    *, value: float = 0.0, mode: str = "constant", pads: tuple[int, ...] = (0, 0, 0, 1, 0, 0, 1, 0),
    extra_reader: bool = False, conv_pads: tuple[int, ...] | None = None,
) -> onnx.ModelProto:  # fmt: skip
    """x (1, 2, 5, 5) -> Pad -> Conv 3x3 (-> y); ``extra_reader`` also sends the Pad to ``z``."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.array(pads, np.int64), "pads"),
        numpy_helper.from_array(np.array(value, np.float32), "value"),
        numpy_helper.from_array(  # as many input channels as the Pad leaves
            rng.standard_normal((2, 2 + pads[1] + pads[5], 3, 3)).astype(np.float32), "w"
        ),
    ]
    conv = helper.make_node("Conv", ["padded", "w"], ["y"])
    if conv_pads:
        conv.attribute.append(helper.make_attribute("pads", list(conv_pads)))
    nodes = [helper.make_node("Pad", ["x", "pads", "value"], ["padded"], mode=mode), conv]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if extra_reader:
        nodes.append(helper.make_node("Identity", ["padded"], ["z"]))
        outputs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, None))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])],
        outputs, inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what the ONNX Runtime of the service reads
    return model


def _first_output(model: onnx.ModelProto) -> np.ndarray:
    x = np.random.default_rng(1).standard_normal((1, 2, 5, 5)).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["y"], {"x": x})[0])


def test_a_pad_added_to_the_convolution_own_pads() -> None:
    model = _pad_conv_graph(conv_pads=(1, 1, 1, 1))
    before = _first_output(model)
    assert fuse_pads(model) == 1
    (conv,) = model.graph.node
    assert list(conv.attribute[0].ints) == [1, 2, 2, 1]
    np.testing.assert_allclose(_first_output(model), before, atol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda: _pad_conv_graph(value=1.0),  # not zero padding
        lambda: _pad_conv_graph(mode="reflect"),
        lambda: _pad_conv_graph(pads=(0, 1, 0, 0, 0, 0, 0, 0)),  # pads channels
        lambda: _pad_conv_graph(pads=(0, 0, -1, 0, 0, 0, 0, 0)),  # crops
        lambda: _pad_conv_graph(extra_reader=True),  # someone else reads the padded map
    ],
    ids=["nonzero-value", "reflect", "channel-axis", "negative", "two-readers"],
)
def test_pads_that_are_not_a_convolution_own_zero_padding_stay(
    make: Callable[[], onnx.ModelProto],
) -> None:
    model = make()
    before = _first_output(model)
    assert fuse_pads(model) == 0
    assert "Pad" in _ops(model)
    np.testing.assert_allclose(_first_output(model), before)


def test_a_pad_whose_amounts_come_from_the_input_stays() -> None:
    class Dynamic(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            amount = x.shape[-1] % 3  # depends on the input's shape: not a constant
            return F.conv2d(F.pad(x, (0, amount, 0, amount)), torch.ones(1, 3, 3, 3))

    model = _exported(Dynamic(), torch.randn(2, 3, 7, 7))
    pads_before = _ops(model).count("Pad")
    fuse_pads(model)
    assert _ops(model).count("Pad") == pads_before


def _pads_computed_and_read_in_a_branch(read: str, elem_type: int) -> onnx.ModelProto:
    """``_pad_conv_graph`` whose Pad reads its amounts from an Identity (a computed value), and
    an ``If`` whose branches read ``read`` from the outer scope (not a top-level input)."""
    model = _pad_conv_graph()
    graph = model.graph
    graph.node.insert(0, helper.make_node("Identity", ["pads"], ["pads_copy"]))
    graph.node[1].input[1] = "pads_copy"  # the Pad now reads a computed value
    branch = helper.make_graph(
        [helper.make_node("Identity", [read], ["branch_out"])], "branch", [],
        [helper.make_tensor_value_info("branch_out", elem_type, None)],
    )  # fmt: skip
    graph.initializer.append(numpy_helper.from_array(np.array(True), "cond"))
    graph.node.append(
        helper.make_node("If", ["cond"], ["z"], then_branch=branch, else_branch=branch)
    )
    graph.output.append(helper.make_tensor_value_info("z", elem_type, None))
    return model


def test_a_pad_also_read_inside_a_subgraph_stays_and_outer_values_it_reads_survive() -> None:
    """An ``If`` branch reads the padded map (and the pads' producer) from the outer scope:
    neither shows up as a top-level input, and folding must not remove either."""
    model = _pads_computed_and_read_in_a_branch("padded", TensorProto.FLOAT)
    before = _first_output(model)
    assert fuse_pads(model) == 0
    assert "Pad" in _ops(model) and "Identity" in _ops(model)
    np.testing.assert_allclose(_first_output(model), before)


def test_a_value_read_only_inside_a_subgraph_survives_the_dead_node_sweep() -> None:
    """The Pad folds; the Identity that fed it its pads is also read by an ``If`` branch, so it
    must stay even though no top-level node reads it any more."""
    model = _pads_computed_and_read_in_a_branch("pads_copy", TensorProto.INT64)
    before = _first_output(model)
    assert fuse_pads(model) == 1
    assert "Pad" not in _ops(model) and _ops(model).count("Identity") == 1
    np.testing.assert_allclose(_first_output(model), before, atol=1e-6)
