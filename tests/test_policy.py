"""Mutation self-tests of the outcome policy: the real runner fed a deliberately wrong result.

Each test plants one fault (a lost partition, a drifting or biased executor, NaNs, a
skipped executor of the lowered program, a stale expectation) and asserts that the
verdict fails at the right stage with the right message. Nothing of ExecuTorch is
mocked: the faults are wrapped around the real partitioner and the real runtime.
"""

import dataclasses

import pytest
import torch

from etconform.cases import Case, Lambda, randn
from etconform.judging import policy
from etconform.judging.expectations import Expectation, KnownFailure
from etconform.targets import TARGETS
from executors import EXECUTORS
from executors.base import Availability
from tests.conftest import by_executor, unannotated

CONV = Case("selftest", "conv", lambda: torch.nn.Conv2d(3, 8, 3), lambda g: (randn(g, 1, 3, 16, 16),))
ADD = Case("selftest", "add", lambda: Lambda(lambda x: x + 1.0), lambda g: (randn(g, 4, 64),))


def _judge(run, expect=None):
    return policy.judge(run.records, expect or Expectation(), run.summary())


def _lost_partition_target(name: str):
    """The real target, with a partitioner that claims no node: every op stays on the CPU."""
    real = TARGETS[name]

    def make(workdir):
        partitioner, quantizer = real.make(workdir)
        partitioner.partition = lambda program: _claim_nothing(program, partitioner)
        return partitioner, quantizer

    return dataclasses.replace(real, make=make)


def _claim_nothing(program, partitioner):
    from executorch.exir.backend.partitioner import PartitionResult

    return PartitionResult(tagged_exported_program=program, partition_tags={})


def _offset_runtime(monkeypatch, steps=None, nan_share=0.0, first_only=False):
    """et_runtime's outputs moved by `steps` output steps (only the first element with `first_only`), or partly NaN."""
    runtime = EXECUTORS["et_runtime"]
    real = type(runtime).run

    def run(self, lowered, inputs, timing=(1, 5)):
        result = real(self, lowered, inputs, timing)
        out = result.outputs[0].clone()
        if steps is not None:
            (out.view(-1)[:1] if first_only else out).add_(steps * (lowered.output_scales[0] or 1.0))
        if nan_share:
            out.view(-1)[: int(out.numel() * nan_share)] = float("nan")
        result.outputs = [out]
        return result

    monkeypatch.setattr(type(runtime), "run", run)


def test_a_lost_partition_fails_at_partition_naming_the_ops(run_one):
    run = run_one(CONV, _lost_partition_target("xnnpack_fp32"))
    record = by_executor(run)["et_runtime"]
    assert (record["outcome"], record["stage"]) == ("fail", "partition")
    assert "on the CPU, not in the expectations: aten_convolution_default" in record["message"]
    assert record["metrics"]["max_abs_err"] < 1e-4  # it ran and matched: the numbers are still recorded
    assert _judge(run).action == "fail"


def test_an_expected_fallback_passes_and_says_so(run_one):
    expect = Expectation(cpu=("aten_convolution",), unsupported="planted")
    run = run_one(CONV, _lost_partition_target("xnnpack_fp32"), expect)
    record = by_executor(run)["et_runtime"]
    assert record["outcome"] == "fallback" and "on the CPU as expected" in record["message"]
    assert _judge(run, expect).action == "pass"


TWO_CONVS = Case("selftest", "two_convs", lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 4, 3)),
                 lambda g: (randn(g, 1, 3, 12, 12),))
CHAIN = Case("selftest", "chain", lambda: Lambda(lambda x: torch.relu(x + 1.0) * 2.0), lambda g: (randn(g, 4, 64),))


def _split_target(name: str, op: str):
    """The real target, with a partitioner that leaves `op` out and puts what follows it in a second
    partition: a lowering that fragments the graph."""
    real = TARGETS[name]

    def make(workdir):
        partitioner, quantizer = real.make(workdir)
        claim = partitioner.partition

        def partition(program):
            result = claim(program)
            tag, spec = next(iter(result.partition_tags.items()))
            second, after = f"{tag}_split", False
            for node in result.tagged_exported_program.graph_module.graph.nodes:
                if node.meta.get("delegation_tag") != tag:
                    continue
                if op in str(node.target):
                    del node.meta["delegation_tag"]
                    after = True
                elif after:
                    node.meta["delegation_tag"] = second
            result.partition_tags[second] = spec
            return result

        partitioner.partition = partition
        return partitioner, quantizer

    return dataclasses.replace(real, make=make)


def test_a_cpu_op_that_drifts_to_more_instances_fails_by_count(run_one):
    """Listed once for the CPU, run there twice: a name-only list let it pass; a count does not."""
    by_count = Expectation(cpu=("aten_convolution",), cpu_counts={"aten_convolution": 1}, unsupported="planted")
    record = by_executor(run_one(TWO_CONVS, _lost_partition_target("xnnpack_fp32"), by_count))["et_runtime"]
    assert (record["outcome"], record["stage"]) == ("fail", "partition")
    assert "aten_convolution_default on the CPU 2 times where the expectations say 1" in record["message"]
    right = dataclasses.replace(by_count, cpu_counts={"aten_convolution": 2})
    assert by_executor(run_one(TWO_CONVS, _lost_partition_target("xnnpack_fp32"), right))["et_runtime"]["outcome"] == "fallback"


def test_a_program_split_into_more_partitions_than_expected_fails_at_partition(run_one):
    expect = Expectation(cpu=("aten_relu",), cpu_counts={"aten_relu": 1}, partitions=1, unsupported="planted")
    record = by_executor(run_one(CHAIN, _split_target("xnnpack_fp32", "relu"), expect))["et_runtime"]
    assert record["delegation"]["partitions"] == 2, record["delegation"]
    assert (record["outcome"], record["stage"]) == ("fail", "partition")
    assert "2 partitions where the expectations say 1" in record["message"]
    assert record["metrics"]["max_abs_err"] < 1e-4  # the answer is right: the contract is what broke
    fits = dataclasses.replace(expect, partitions=2)
    assert by_executor(run_one(CHAIN, _split_target("xnnpack_fp32", "relu"), fits))["et_runtime"]["outcome"] == "fallback"


def test_casts_and_requantizations_between_partitions_count_as_cpu_work():
    """A dequantize and quantize that only carry one delegate's output to another's input are the CPU's work;
    glue beside CPU compute or at the program's edges is not counted again."""
    import operator
    import types

    from etconform.lowering.pipeline import _between_partitions

    g = torch.fx.Graph()

    def call(name, *args):
        node = g.call_function(operator.getitem if name.startswith("getitem") else torch.add, args)
        node.name = name
        return node

    first = call("executorch_call_delegate", g.placeholder("x"))
    dq = call("quantized_decomposed_dequantize_per_tensor_default", call("getitem", first, 0))
    second = call("executorch_call_delegate_1", call("quantized_decomposed_quantize_per_tensor_default", dq))
    cpu = call("aten_mul_tensor", call("getitem_1", second, 0))
    g.output(call("dim_order_ops__to_dim_order_copy_default", call("quantized_decomposed_dequantize_per_tensor_default_1", cpu)))
    between = _between_partitions(types.SimpleNamespace(graph=g))
    assert between == {"quantized_decomposed_dequantize_per_tensor_default": 1, "quantized_decomposed_quantize_per_tensor_default": 1}
    delegation = {"partitions": 2, "undelegated_ops": {"aten_mul_tensor": 1}, "glue_between_partitions": between}
    (found,) = policy.delegation_findings(delegation, Expectation(cpu=("aten_mul_tensor",), unsupported="x"))
    assert found["stage"] == "partition"
    assert "quantized_decomposed_dequantize_per_tensor_default (between partitions)" in found["message"]


def test_an_op_listed_for_the_cpu_that_is_now_delegated_fails_strictly(run_one):
    expect = Expectation(cpu=("aten.convolution.default",), unsupported="stale")  # any spelling of the op
    record = by_executor(run_one(CONV, "xnnpack_fp32", expect))["et_runtime"]
    assert (record["outcome"], record["stage"]) == ("fail", "partition")
    assert "now delegated, but listed as CPU ops in the expectations: aten_convolution" in record["message"]
    assert "not in the expectations" not in record["message"]


def test_an_op_delegated_in_float_on_an_integer_target_fails_at_partition(run_one):
    run = run_one(ADD, unannotated("xnnpack_int8"))
    record = by_executor(run)["et_runtime"]
    assert record["delegation"]["float_ops"] == {"aten.add.Tensor": 1}
    assert (record["outcome"], record["stage"]) == ("fail", "partition")
    assert "delegated in float on an integer target, not in the expectations: aten.add.Tensor" in record["message"]
    assert _judge(run).action == "fail"
    clean = by_executor(run_one(ADD, "xnnpack_int8"))["et_runtime"]
    assert clean["delegation"]["float_ops"] == {} and clean["outcome"] == "pass"


def test_an_op_listed_as_float_passes_there_and_fails_strictly_once_quantized(run_one):
    expect = Expectation(cpu=(), float_ops=("aten_add_Tensor",), unsupported="planted")
    listed = by_executor(run_one(ADD, unannotated("xnnpack_int8"), expect))["et_runtime"]
    assert listed["outcome"] == "pass"
    stale = by_executor(run_one(ADD, "xnnpack_int8", expect))["et_runtime"]
    assert (stale["outcome"], stale["stage"]) == ("fail", "partition")
    assert "now on the integer grid, but listed as float ops in the expectations: aten_add_Tensor" in stale["message"]


def test_a_one_step_bias_fails_vs_quantized_eager(run_one, monkeypatch):
    _offset_runtime(monkeypatch, steps=1.0)
    run = run_one(ADD, "xnnpack_int8")
    record = by_executor(run)["et_runtime"]
    assert record["outcome"] == "mismatch" and record["metrics"]["max_err_qsteps"] <= 1.0 + 1e-6
    assert any(f["check"] == "vs_quantized" and "bias" in f["message"] for f in record["findings"])
    assert policy.is_wrong_delegated(record) and _judge(run).action == "fail"


def test_nans_in_a_lowered_program_fail_every_check(run_one, monkeypatch):
    _offset_runtime(monkeypatch, nan_share=0.1)
    record = by_executor(run_one(ADD, "xnnpack_fp32"))["et_runtime"]
    assert record["outcome"] == "mismatch" and record["metrics"]["sqnr_db"] <= -300
    assert {f["check"] for f in record["findings"]} == {"vs_eager"}


def test_drift_beyond_a_known_failure_fails(run_one, monkeypatch):
    _offset_runtime(monkeypatch, steps=5.0)
    known = KnownFailure("planted: 2 steps off", executors=("et_runtime",), checks=("vs_quantized", "vs_eager"),
                         max={"max_err_qsteps": 2.2})
    run = run_one(ADD, "xnnpack_int8", Expectation(xfail=(known,)))
    record = by_executor(run)["et_runtime"]
    assert record["outcome"] == "mismatch"
    assert "beyond its known failure" in record["message"] and "max_err_qsteps 5" in record["message"]
    assert _judge(run, Expectation(xfail=(known,))).action == "fail"


def test_a_known_failure_covers_only_the_checks_it_names(run_one, monkeypatch):
    _offset_runtime(monkeypatch, steps=5.0)
    known = KnownFailure("planted: quantized eager is off eager", executors=("et_runtime",), checks=("vs_eager",))
    expect = Expectation(xfail=(known,))
    record = by_executor(run_one(ADD, "xnnpack_int8", expect))["et_runtime"]
    assert record["outcome"] == "mismatch"  # vs_quantized also failed, which the entry does not name


def test_a_known_failure_within_its_ceiling_is_an_xfail(run_one, monkeypatch):
    _offset_runtime(monkeypatch, steps=5.0)
    known = KnownFailure("planted: 5 steps off", executors=("et_runtime",), checks=("vs_quantized", "vs_eager"),
                         max={"max_err_qsteps": 5.5})
    expect = Expectation(xfail=(known,))
    run = run_one(ADD, "xnnpack_int8", expect)
    assert by_executor(run)["et_runtime"]["outcome"] == "xfail"
    assert _judge(run, expect).action == "xfail"


def test_a_known_failure_that_no_longer_fails_is_a_strict_xpass(run_one):
    known = KnownFailure("stale", executors=("et_runtime",), checks=("vs_quantized",))
    expect = Expectation(xfail=(known,))
    judgement = _judge(run_one(ADD, "xnnpack_int8", expect), expect)
    assert judgement.action == "fail" and "XPASS(strict): et_runtime passed" in judgement.message


def test_a_known_failure_that_still_fails_one_check_but_passes_another_is_strict(run_one, monkeypatch):
    _offset_runtime(monkeypatch, steps=1.5, first_only=True)  # one element 1.5 steps off: within 3 of eager, no bias
    known = KnownFailure("planted", executors=("et_runtime",), checks=("vs_quantized", "vs_eager"), max={"max_err_qsteps": 2})
    expect = Expectation(xfail=(known,))
    run = run_one(ADD, "xnnpack_int8", expect)
    judgement = _judge(run, expect)
    assert by_executor(run)["et_runtime"]["outcome"] == "xfail"
    assert judgement.action == "fail" and "et_runtime passed vs_eager" in judgement.message


def test_a_failed_run_still_carries_the_partition_contract(run_one, monkeypatch):
    def crash(self, lowered, inputs, timing=(1, 5)):
        from etconform.stages import Stage, StageError

        raise StageError(Stage.RUN, "planted crash")

    monkeypatch.setattr(type(EXECUTORS["et_runtime"]), "run", crash)
    known = KnownFailure("planted crash", stage="run", executors=("et_runtime",), message="planted")
    run = run_one(CONV, _lost_partition_target("xnnpack_fp32"), Expectation(xfail=(known,)))
    record = by_executor(run)["et_runtime"]
    assert (record["outcome"], record["stage"]) == ("fail", "run")  # the run entry does not cover the lost partition
    assert "on the CPU, not in the expectations" in record["message"]


def test_a_stage_failure_must_match_the_message_it_names(run_one):
    known = KnownFailure("planted", stage="export", message="this is not what export says")
    branchy = Case("selftest", "branchy", lambda: Lambda(lambda x: x * 2 if x.sum() > 0 else x - 1), lambda g: (randn(g, 4),))
    expect = Expectation(xfail=(known,))
    run = run_one(branchy, "xnnpack_fp32", expect)
    assert by_executor(run)["et_runtime"]["outcome"] == "fail"
    assert _judge(run, expect).action == "fail"


def test_only_quantized_eager_compared_is_a_skip_not_a_pass(run_one, monkeypatch):
    monkeypatch.setattr(type(EXECUTORS["et_runtime"]), "probe", lambda self, target: Availability(False, "planted: no runtime"))
    run = run_one(ADD, "xnnpack_int8")
    assert by_executor(run)["quantized_eager"]["outcome"] == "pass"
    judgement = _judge(run)
    assert judgement.action == "skip" and "the lowered program ran nowhere" in judgement.message
    assert "planted: no runtime" in judgement.message
    assert policy.verified_level(run.records) == "quantization"


@pytest.mark.parametrize(("target", "level"), [("xnnpack_int8", "runtime"), ("tosa_int", "tosa")])
def test_a_clean_case_passes_and_names_the_level_it_verified(run_one, target, level):
    run = run_one(ADD, target)
    assert _judge(run).action == "pass", run.summary()
    assert policy.verified_level(run.records) == level
