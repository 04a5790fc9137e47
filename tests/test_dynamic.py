"""Dynamic shapes through the real runner: one lowering, every size run and compared."""

import torch

from etconform.cases import Lambda
from executors import EXECUTORS
from operators.dynamic_shapes import SEQ, dynamic
from tests.conftest import by_executor

LINEAR = dynamic("selftest", "linear_seq", lambda: torch.nn.Linear(16, 8), [[(1, 6, 16)], [(1, 2, 16)], [(1, 40, 16)]],
                 {0: {1: SEQ}})


def test_a_dynamic_case_is_lowered_once_and_run_at_every_size(run_one):
    runtime = by_executor(run_one(LINEAR, "xnnpack_fp32"))["et_runtime"]
    assert runtime["outcome"] == "pass", runtime["message"]
    assert runtime["sizes"] == [[[1, 6, 16]], [[1, 2, 16]], [[1, 40, 16]]]
    assert runtime["delegation"]["partitions"] == 1 and not runtime["delegation"]["undelegated_ops"]


def test_a_fault_at_one_size_only_fails(run_one, monkeypatch):
    """The runtime is right at the export size and wrong at the largest: the verdict must see it."""
    runner = EXECUTORS["et_runtime"]
    real = type(runner).run

    def run(self, lowered, inputs, timing=(1, 5)):
        result = real(self, lowered, inputs, timing)
        if inputs[0].shape[1] == 40:
            result.outputs = [out + 1e-2 for out in result.outputs]
        return result

    monkeypatch.setattr(type(runner), "run", run)
    runtime = by_executor(run_one(LINEAR, "xnnpack_fp32"))["et_runtime"]
    assert (runtime["outcome"], runtime["stage"]) == ("mismatch", "compare"), runtime["message"]
    assert "output 2[" in runtime["message"]  # the third sample's output


def test_sizes_outside_the_declared_range_are_the_catalogs_bug():
    try:
        dynamic("selftest", "bad", lambda: Lambda(torch.relu), [[(1, 4)], [(1, 500)]], {0: {1: SEQ}})
    except ValueError as exc:
        assert "input 0 dim 1 = 500 outside seq [2, 128]" in str(exc)
    else:
        raise AssertionError("a size outside its Dim's range was accepted")
