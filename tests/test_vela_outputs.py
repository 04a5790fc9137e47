"""A Vela package whose outputs differ from its delegate's graph fails the stream at `vela`.

ExecuTorch's Ethos-U runtime copies a package's outputs to the delegate's by position, so a
package that writes fewer outputs (Vela 5.1.0 drops one of EfficientNet-Lite0's: FINDINGS.md,
"A graph output dropped") would give wrong outputs or be refused. The check runs on a real U55 lowering of
two MBConv blocks whose F.relu6 the Arm quantizer leaves on the CPU, which gives a delegate
with two outputs; a dropped output is planted in its package.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import executors.ethosu_stream as stream_module
from etconform.lowering.pipeline import lower
from etconform.stages import Stage, StageError
from etconform.targets import TARGETS
from executors.ethosu.package import parse
from models.imagenet import MBConv


def _two_blocks() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(MBConv(3, 1, 6, 24, 24, 16), MBConv(3, 1, 6, 24, 24, 16)).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture(scope="module")
def lowered(tmp_path_factory):
    x = (torch.randn(1, 24, 16, 16, generator=torch.Generator().manual_seed(1)),)
    found = lower(_two_blocks(), x, TARGETS["ethos_u55_128"], tmp_path_factory.mktemp("u55"), calibration=[x])
    return found, x


def _outputs_of_delegates(found) -> list[int]:
    gm = found.edge_program.graph_module
    return [len(getattr(gm, n.args[0].target).original_module.graph.output_node().args[0])
            for n in gm.graph.nodes if "call_delegate" in str(n.target)]


def test_the_stream_runs_a_package_whose_outputs_match(lowered):
    found, x = lowered
    assert max(_outputs_of_delegates(found)) == 2  # the case this test is about
    result = stream_module.EthosUStream().run(found, x, (0, 1))
    assert result.checks["vs_tosa"] == []


def test_a_package_that_drops_an_output_fails_at_vela(lowered, monkeypatch):
    found, x = lowered

    def dropping(processed: bytes):
        package = parse(processed)
        return dataclasses.replace(package, outputs=package.outputs[:1]) if len(package.outputs) > 1 else package

    monkeypatch.setattr(stream_module, "parse", dropping)
    with pytest.raises(StageError) as raised:
        stream_module.EthosUStream().run(found, x, (0, 1))
    assert raised.value.stage == Stage.VELA
    assert "Vela's package writes 1 output(s)" in str(raised.value) and "returns 2" in str(raised.value)
