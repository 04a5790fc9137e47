"""The walk from a tapped output back to its tensor, on hand-built graphs of the two layouts the
quantizers produce (fast: no lowering; tests/test_localize.py runs the real ones)."""

import torch
from executorch.devtools.intermediate_output_tap import custom_ops_lib  # noqa: F401 - registers the tap op

from etconform.analysis.localize import _origin, _tapped_sources, _walk, tap_steps

Q = torch.ops.quantized_decomposed.quantize_per_tensor.default
DQ = torch.ops.quantized_decomposed.dequantize_per_tensor.default
TAP = torch.ops.executorch_devtools.tap.Tensor
OWN, TAPS = (0.1, 3, -128, 127, torch.int8), (0.0125, -2, -128, 127, torch.int8)


def _graph(arm: bool, taps: tuple = TAPS) -> tuple[torch.fx.GraphModule, torch.fx.Node]:
    """relu(x) quantized, read by the next op and tapped. Arm quantizes the tap's output again, on a
    grid of its own: q -> dq -> tap -> q' -> dq' -> output; XNNPACK's tap is the output."""
    g = torch.fx.Graph()
    x = g.placeholder("x")
    relu = g.call_function(torch.ops.aten.relu.default, (x,))
    q = g.call_function(Q, (relu, *OWN))
    tapped = g.call_function(TAP, (g.call_function(DQ, (q, *OWN)), "FULL_TENSOR"))
    if arm:
        tapped = g.call_function(DQ, (g.call_function(Q, (tapped, *taps)), *taps))
    after = g.call_function(torch.ops.aten.neg.default, (g.call_function(DQ, (q, *OWN)),))
    g.output((after, tapped))
    return torch.fx.GraphModule(torch.nn.Module(), g), q


def test_the_walk_reaches_the_quantize_every_user_reads_and_both_grids_in_either_layout():
    for arm in (False, True):
        module, q = _graph(arm)
        found, dequantizes = _walk(module.graph.output_node().args[0][1])
        assert found is q and len(dequantizes) == (2 if arm else 1)
        own, reported = tap_steps(module)[1]
        assert own == (0.1, 3, -128, 127) and reported == (TAPS[:4] if arm else OWN[:4])
        assert tap_steps(module)[0] == (None, None)  # neg's output is float: no grid
        name, grid, finer = _tapped_sources(module, [1])[1]
        assert (name, grid, finer) == (q.name, OWN[:4], TAPS[:4] if arm else None)


def test_a_tap_on_a_coarser_grid_than_its_tensor_is_not_forced():
    module, _ = _graph(arm=True, taps=(0.5, 0, -128, 127, torch.int8))
    assert 1 not in _tapped_sources(module, [1])  # the program's value cannot be put back on the finer grid


def test_a_decomposed_node_is_charged_to_the_program_node_it_came_from():
    class Source:
        def __init__(self, name, older=()):
            self.name, self.from_node = name, list(older)

    g = torch.fx.Graph()
    node = g.call_function(torch.ops.aten.avg_pool2d.default, (g.placeholder("x"), [2, 2]))
    node.meta["from_node"] = [Source("avg_pool2d_1", [Source("adaptive_avg_pool2d", [Source("mean")])])]
    assert _origin(node, {"adaptive_avg_pool2d", "mean"}) == "adaptive_avg_pool2d"  # the nearest
    assert _origin(node, {"conv"}) == node.name


def test_where_the_tap_grid_saturates_quantized_eager_stands_in_and_the_share_is_recorded():
    """The tap's grid spans [-1.575, 1.6125]; the tensor's own [-13.1, 12.4]. Given 5.0 and 3.0 the
    program's value on the tensor's grid is unknown: quantized eager's own stands in, half the elements."""
    from etconform.analysis.localize import own_values

    module, _ = _graph(arm=True)
    x = torch.tensor([0.5, 5.0, 1.0, 3.0])
    given = torch.tensor([0.5, 1.6125, 1.0, 1.6125])  # what the program reports: clipped on the tap's grid
    stood_in: dict[int, float] = {}
    own = own_values(module, [(x,)], [[-x, given]], [1], stood_in)
    assert stood_in == {1: 0.5}
    assert own[0][0] is None and own[0][1] is not None
