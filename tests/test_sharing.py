"""A case's targets share its build and export in one worker (under -n, tests/test_xdist.py: on one worker)."""

from pathlib import Path

import pytest

from etconform.cases import Case, Lambda, randn
from etconform.lowering import shared
from etconform.plugin.grouping import case_major, scope
from etconform.records import RecordWriter
from etconform.runner import run_case
from etconform.targets import TARGETS
from tests.conftest import by_executor

REPO = Path(__file__).resolve().parent.parent
ADD = Case("selftest", "shared_add", lambda: Lambda(lambda x: x + 1.0), lambda g: (randn(g, 4, 64),))
# An op that writes into its input: a target must not see the inputs another target's eager run changed.
# (Only on tosa_fp: an ExecuTorch program returns a mutated input as one more output.)
ADD_INPLACE = Case("selftest", "shared_add_inplace", lambda: Lambda(lambda x: x.add_(1.0)), lambda g: (randn(g, 4, 64),))


def test_an_operator_test_is_scoped_by_its_case_and_a_model_test_by_itself():
    assert scope("suites/ethos_u/test_operators.py::test_operator[conv2d-3x3_stride2-ethos_u55_128]") == "conv2d-3x3_stride2"
    assert scope("suites/xnnpack/test_operators.py::test_operator[conv2d-3x3_stride2-xnnpack_int8]") == "conv2d-3x3_stride2"
    model = "suites/ethos_u/test_models.py::test_model[mobilenet_v2-224-tosa_int]"
    assert scope(model) == model
    assert scope("tests/test_x.py::test_y[a]") == "tests/test_x.py"  # a self-test module's fixtures: made once


def test_case_major_order_puts_a_cases_targets_together_and_keeps_the_rest_in_order():
    ids = ["e/test_operators.py::test_operator[a-1-tosa_fp]", "e/test_operators.py::test_operator[b-1-tosa_fp]",
           "e/test_models.py::test_model[m-1-tosa_fp]", "x/test_operators.py::test_operator[a-1-xnnpack_fp32]",
           "x/test_operators.py::test_operator[b-1-xnnpack_fp32]"]
    items = [type("Item", (), {"nodeid": i})() for i in ids]
    case_major(items)
    assert [i.nodeid for i in items] == [ids[0], ids[3], ids[1], ids[4], ids[2]]


@pytest.mark.parametrize(("case", "targets"), [(ADD, ("tosa_fp", "xnnpack_fp32")), (ADD_INPLACE, ("tosa_fp", "tosa_fp"))],
                         ids=["add", "add_inplace"])
def test_the_targets_of_a_case_share_one_build_and_one_export(tmp_path, case, targets):
    shared.clear()
    before = dict(shared.counts)
    writer = RecordWriter(tmp_path, "selftest")
    runs = [run_case(case, TARGETS[t], tmp_path, writer, 0, "selftest") for t in targets]
    assert shared.counts["built"] - before["built"] == 1
    assert shared.counts["exported"] - before["exported"] == 1
    lowered = {"tosa_fp": "tosa_ref", "xnnpack_fp32": "et_runtime"}
    for run, target in zip(runs, targets):
        assert by_executor(run)[lowered[target]]["outcome"] == "pass", run.summary()
