"""Expectations: validated at collection, strict xfail, unsupported checked, on real runs."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from etconform.judging.expectations import ExpectationError, for_case, validate
from etconform.plugin.catalog import operator_cases
from etconform.records import run_seed

REPO = Path(__file__).resolve().parent.parent
CASES = operator_cases()
ONE_SEED = {"case": "c-x", "seed": 0}  # a record of one run's seed: no entry drafted from it is scoped to seeds
RAN = {run_seed(ONE_SEED)}


def _pytest(args, expectations_dir, timeout=600):
    env = {**os.environ, "ETCONFORM_EXPECTATIONS": str(expectations_dir), "PYTEST_ADDOPTS": ""}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)


def test_a_broken_key_stops_collection_naming_it(tmp_path):
    (tmp_path / "ethos_u55_128.toml").write_text('[unsupported]\n"conv2d-no_such_case" = {cpu = [], reason = "typo"}\n')
    proc = _pytest(["--collect-only", "-q", "suites/ethos_u"], tmp_path)
    assert proc.returncode != 0
    assert "'conv2d-no_such_case' matches no case or operator" in proc.stdout + proc.stderr


def test_a_toml_syntax_error_names_the_file(tmp_path):
    (tmp_path / "tosa_int.toml").write_text('[xfail."relu"\nstage = "lower"\n')
    with pytest.raises(ExpectationError, match=r"tosa_int.toml: not valid TOML"):
        validate("tosa_int", CASES, tmp_path)


@pytest.mark.parametrize(("text", "complaint"), [
    ('[skip]\n"relu" = "x"\n', "unknown sections"),
    ('[xfail.relu]\nstage = "lower"\n', "needs a reason"),
    ('[xfail.relu]\nstage = "lowering"\nreason = "bad stage name"\n', "is not one of"),
    ('[xfail.relu]\nreason = "neither"\n', "needs either stage"),
    ('[xfail.relu]\nstage = "lower"\nchecks = ["vs_eager"]\nexecutors = ["tosa_ref"]\nreason = "both"\n', "not both"),
    ('[xfail.relu]\nchecks = ["vs_eager"]\nreason = "whose?"\n', "must name its executors"),
    ('[xfail.relu]\nstage = "run"\nreason = "whose?"\n', "must name its executors"),
    ('[xfail.relu]\nchecks = ["vs_everything"]\nexecutors = ["tosa_ref"]\nreason = "x"\n', "must be among"),
    ('[xfail.relu]\nstage = "lower"\nceiling = 3\nreason = "x"\n', "unknown fields"),
    ('[xfail.relu]\nstage = "lower"\nmessage = "(unclosed"\nreason = "x"\n', "not a regular expression"),
    ('[xfail.relu]\nchecks = ["vs_eager"]\nexecutors = ["tosa_ref"]\nmax = {max_err_qsteps = "a lot"}\nreason = "x"\n', "map metric names to numbers"),
    ('[xfail.relu]\nstage = "lower"\nseeds = 1\nreason = "x"\n', "seeds must be a list"),
    ('[xfail.relu]\nstage = "lower"\nseeds = [-1]\nreason = "x"\n', "seeds must be a list"),
    ('[tolerance.relu]\nqtol = 2\n', "unknown tolerance keys"),
    ('[unsupported]\n"relu" = "a bare reason"\n', "needs {cpu"),
    ('[unsupported]\n"relu" = {cpu = ["aten_relu_default"]}\n', "needs {cpu"),
])
def test_malformed_entries_are_refused_naming_file_and_key(tmp_path, text, complaint):
    (tmp_path / "tosa_int.toml").write_text(text)
    with pytest.raises(ExpectationError, match=complaint) as raised:
        validate("tosa_int", CASES, tmp_path)
    assert "tosa_int.toml" in str(raised.value)


def test_a_key_names_a_case_or_all_cases_of_an_operator(tmp_path):
    (tmp_path / "tosa_int.toml").write_text('[tolerance.conv2d]\nqtol_steps = 2\n[tolerance."conv2d-3x3"]\nqtol_steps = 3\n')
    validate("tosa_int", CASES, tmp_path)
    by_id = {c.id: c for c in CASES}
    assert for_case("tosa_int", by_id["conv2d-3x3"], None, tmp_path).tolerance == {"qtol_steps": 3}
    assert for_case("tosa_int", by_id["conv2d-1x1_nobias"], None, tmp_path).tolerance == {"qtol_steps": 2}
    assert for_case("tosa_int", by_id["relu-4d"], None, tmp_path).tolerance == {}


# GELU's erf form for tanh is off eager on xnnpack_fp32 (a real known failure), known here on seed 0 only.
FIVE_CASES = ("gelu-tanh_approx", "relu-4d", "add-4d_same", "softmax-dim1_4d", "sub-2d_same")
NODE = "suites/xnnpack/test_operators.py::test_operator[{}-xnnpack_fp32]"


@pytest.fixture(scope="module")
def five_cases(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One real run on seed 0 of five cases against expectations each of which is right or wrong in its own way."""
    base = tmp_path_factory.mktemp("five_cases")
    (base / "xnnpack_fp32.toml").write_text(
        '[xfail."gelu-tanh_approx"]\nexecutors = ["et_runtime"]\nchecks = ["vs_eager"]\nmax = {max_abs_err = 0.001}\n'
        'seeds = [0]\nreason = "erf GELU for tanh"\n'
        '[xfail."relu-4d"]\nstage = "lower"\nreason = "a stale entry: relu works"\n'
        '[unsupported]\n"add-4d_same" = {cpu = ["aten_add_tensor"], reason = "stale: add delegates"}\n'
        '"softmax-dim1_4d" = {cpu = ["aten__softmax_default"], reason = "last dim only"}\n'
        '"sub-2d_same" = {cpu = ["aten_mul_tensor"], reason = "lists the wrong op"}\n'
    )
    proc = _pytest(["-q", *(NODE.format(c) for c in FIVE_CASES), "--seed", "0", "--results-dir", str(base / "results"),
                    "--alluredir", str(base / "allure")], base)
    return base, proc


def test_a_known_failure_scoped_to_a_seed_forgives_nothing_on_another_seed(five_cases):
    """The entry scoped to seed 0 is an xfail there (the five-case run), while on seed 1 the same failure
    fails, naming itself."""
    base, on_its_seed = five_cases
    records = [json.loads(line) for line in (base / "results" / "records.jsonl").read_text().splitlines()]
    assert next(r for r in records if r["case"] == "gelu-tanh_approx" and r["executor"] == "et_runtime")["outcome"] == "xfail"
    node = NODE.format("gelu-tanh_approx")
    elsewhere = _pytest(["-q", node, "--seed", "1", "--results-dir", str(base / "s1")], base)
    assert "1 failed" in elsewhere.stdout.strip().splitlines()[-1], elsewhere.stdout[-2000:]
    assert "et_runtime: mismatch@compare - vs eager: max abs err" in elsewhere.stdout
    # The failure says how to run it again, alone and as its test, on its seed.
    assert "reproduce: .venv/bin/python -m etconform run gelu-tanh_approx xnnpack_fp32 --seed 1 or ./run suite " \
           f"'{node}' --seed 1" in elsewhere.stdout


def test_for_case_holds_only_the_known_failures_of_the_runs_seed(tmp_path):
    by_id = {c.id: c for c in CASES}
    (tmp_path / "tosa_int.toml").write_text(
        '[[xfail.relu]]\nstage = "lower"\nseeds = [1, 2]\nreason = "seeds 1 and 2"\n'
        '[[xfail.relu]]\nstage = "run"\nexecutors = ["tosa_ref"]\nreason = "every seed"\n')
    reasons = {s: [e.reason for e in for_case("tosa_int", by_id["relu-4d"], s, tmp_path).xfail] for s in (0, 1, None)}
    assert reasons == {0: ["every seed"], 1: ["seeds 1 and 2", "every seed"], None: ["seeds 1 and 2", "every seed"]}
    assert "on seed 1/2" in for_case("tosa_int", by_id["relu-4d"], 1, tmp_path).xfail[0].describe()


def test_a_draft_from_two_seeds_scopes_to_its_seeds_what_failed_on_one_of_them():
    """Each executor's failure gets the seeds it failed on, unless it failed on every seed the case ran on."""
    from etconform.analysis.draft import _xfails
    from etconform.cases import mixed_seed

    def record(executor, seed, checks=("vs_quantized",)):
        findings = [{"check": c, "stage": "compare", "message": f"{c}: 3 steps"} for c in checks]
        return {"case": "selu-4d", "seed": mixed_seed("selu-4d", seed), "executor": executor, "role": "lowered",
                "outcome": "mismatch" if checks else "pass", "metrics": {"max_err_qsteps": 3.0}, "findings": findings}

    runs = [record("tosa_ref", 0), record("tosa_ref", 1), record("stream", 0, ()), record("stream", 1),
            record("quantized_eager", 0, ()), record("quantized_eager", 1, ())]
    entries = {tuple(e["executors"]): e for e in _xfails(runs, {})["selu-4d"]}
    assert "seeds" not in entries[("tosa_ref",)] and entries[("stream",)]["seeds"] == [1]
    assert "seeds" not in _xfails(runs[:1] + runs[2:3], {})["selu-4d"][0]  # one seed run: nothing to scope
    crashed = {"case": "gru-default", "executor": "process", "outcome": "fail", "metrics": {},
               "findings": [{"check": "", "stage": "lower", "message": "the test process crashed"}]}
    both = [{**crashed, "seed": mixed_seed("gru-default", 0)}, {**crashed, "seed": mixed_seed("gru-default", 1)}]
    assert "seeds" not in _xfails(both, {})["gru-default"][0]
    assert _xfails(both[1:] + [{**both[0], "outcome": "pass", "findings": []}], {})["gru-default"][0]["seeds"] == [1]


def test_scoped_xfail_and_the_partition_contract_on_a_real_run(five_cases):
    base, proc = five_cases
    results = base / "results"
    out = proc.stdout
    summary = out.strip().splitlines()[-1]
    assert all(part in summary for part in ("3 failed", "1 passed", "1 xfailed")), out[-3000:]
    assert "XPASS(strict): expected to fail at lower (a stale entry: relu works), but it got past lower" in out
    records = {r["case"]: r for r in map(json.loads, (results / "records.jsonl").read_text().splitlines())
               if r["executor"] == "et_runtime"}
    assert (records["gelu-tanh_approx"]["outcome"], records["gelu-tanh_approx"]["expected"]) == ("xfail", "erf GELU for tanh")
    assert records["softmax-dim1_4d"]["outcome"] == "fallback"
    assert (records["add-4d_same"]["outcome"], records["add-4d_same"]["stage"]) == ("fail", "partition")
    assert "now delegated, but listed as CPU ops in the expectations: aten_add_tensor" in records["add-4d_same"]["message"]
    assert "on the CPU, not in the expectations" not in records["sub-2d_same"]["message"]  # sub is delegated
    assert "now delegated" in records["sub-2d_same"]["message"]
    matrix = json.loads((results / "support_matrix.json").read_text())
    # A known failure of a fully delegated program is still a wrong answer: the matrix says so.
    assert matrix["subjects"]["gelu"]["xnnpack_fp32"]["counts"] == {"wrong_known": 1}
    assert "WRONG (known) 1" in (results / "support_matrix.md").read_text()
    _allure_groups_the_run_as_the_report_does(base / "allure")


def _allure_groups_the_run_as_the_report_does(allure):
    """An Allure report of the same run: labels per test, the run's environment, categories by stage."""
    results = {}
    for path in allure.glob("*-result.json"):
        result = json.loads(path.read_text())
        results[next(label["value"] for label in result["labels"] if label["name"] == "operator")] = result
    gelu = results["gelu"]
    labels = {label["name"]: label["value"] for label in gelu["labels"]}
    assert {k: labels.get(k) for k in ("backend", "target", "family", "outcome", "stage", "suite", "known_failure")} == {
        "backend": "xnnpack", "target": "xnnpack_fp32", "family": "activations", "outcome": "wrong_known",
        "stage": "compare", "suite": "xnnpack_fp32", "known_failure": "erf GELU for tanh"}
    assert gelu["status"] == "skipped" and gelu["statusDetails"]["message"].startswith("XFAIL known failure at compare: erf")
    properties = (allure / "environment.properties").read_text()
    assert "executorch=1.5.1" in properties and "machine.cores=" in properties
    categories = json.loads((allure / "categories.json").read_text())

    def category(result):  # Allure's rule: the first category whose status and message match
        message = result["statusDetails"].get("message", "")
        return next((c["name"] for c in categories if result["status"] in c["matchedStatuses"]
                     and re.fullmatch(c["messageRegex"], message)), None)

    assert category(gelu) == "known failure at compare"
    assert category(results["relu"]) == "known failure that passed (tighten the expectations)"
    assert category(results["add"]) == "failed at partition"


def test_a_draft_from_records_is_a_valid_expectations_file(tmp_path):
    from etconform.analysis.draft import draft

    lowering_failed = [{"stage": "lower", "check": "", "message": "StopIteration: StopIteration"}]
    records = [
        {"case": "relu-4d", "seed": 0, "target": "tosa_int", "executor": "quantized_eager", "role": "reference", "outcome": "mismatch",
         "stage": "compare", "metrics": {"max_err_qsteps_vs_rounded": 40.0},
         "findings": [{"stage": "compare", "check": "vs_eager", "message": 'vs eager: off by "40" steps'}]},
        {"case": "relu-4d", "seed": 0, "target": "tosa_int", "executor": "tosa_ref", "role": "lowered", "outcome": "mismatch",
         "stage": "compare", "metrics": {"max_err_qsteps_vs_rounded": 41.0, "max_err_qsteps": 0.0},
         "findings": [{"stage": "compare", "check": "vs_eager", "message": "vs eager: 41 steps"}]},
        {"case": "reshape-flatten", "seed": 0, "target": "tosa_int", "executor": "tosa_ref", "role": "lowered", "outcome": "fail",
         "stage": "partition", "delegation": {"partitions": 0, "undelegated_ops": {"aten_view_copy_default": 1},
                                              "rejected": {"view_copy.default": "empty partition"}},
         "findings": [{"stage": "partition", "check": "partition", "message": "on the CPU"}]},
        {"case": "mean-all_dims", "seed": 0, "target": "tosa_int", "executor": "tosa_ref", "role": "lowered", "outcome": "fail",
         "stage": "lower", "findings": lowering_failed},
        {"case": "add-4d_same", "seed": 0, "target": "tosa_fp", "executor": "tosa_ref", "outcome": "fail", "stage": "lower",
         "findings": lowering_failed},
    ]
    (tmp_path / "tosa_int.toml").write_text(draft(records, "tosa_int", {"mean-all_dims": "a reviewed reason"}))
    validate("tosa_int", CASES, tmp_path)
    by_id = {c.id: c for c in CASES}
    (relu,) = for_case("tosa_int", by_id["relu-4d"], None, tmp_path).xfail
    assert (relu.executors, relu.checks, relu.max) == (("quantized_eager", "tosa_ref"), ("vs_eager",), {"max_err_qsteps_vs_rounded": 45.1})
    flatten = for_case("tosa_int", by_id["reshape-flatten"], None, tmp_path)
    assert flatten.cpu == ("aten_view_copy",) and flatten.unsupported == "view_copy.default: empty partition"
    (mean,) = for_case("tosa_int", by_id["mean-all_dims"], None, tmp_path).xfail
    assert (mean.stage, mean.message, mean.reason) == ("lower", "^StopIteration:\\ StopIteration$", "a reviewed reason")
    assert for_case("tosa_int", by_id["add-4d_same"], None, tmp_path).xfail == ()


def test_an_update_redrafts_the_cases_run_and_keeps_the_rest(tmp_path):
    import tomllib

    from etconform.analysis.draft import update

    existing = tomllib.loads('''
[unsupported]
"sigmoid" = {float = ["aten.sigmoid.default"], reason = "reviewed: fp32 in XNNPACK"}
"argmax-flattened" = {cpu = ["aten_argmax_default"], reason = "not run this time"}
"relu-4d" = {cpu = ["aten_relu_default"], reason = "stale: relu is delegated now"}

[xfail."mean-all_dims"]
stage = "lower"
message = "StopIteration"
reason = "not run this time"

[tolerance.sigmoid]
qtol_steps = 2
''')
    records = [
        {"case": "relu-4d", "seed": 0, "target": "xnnpack_int8", "executor": "et_runtime", "role": "lowered", "outcome": "pass",
         "findings": [], "delegation": {"partitions": 1, "undelegated_ops": {}, "float_ops": {}}},
        {"case": "sigmoid-4d", "seed": 0, "target": "xnnpack_int8", "executor": "et_runtime", "role": "lowered", "outcome": "fail",
         "findings": [{"stage": "partition", "check": "float", "message": "delegated in float"}],
         "delegation": {"partitions": 1, "undelegated_ops": {}, "float_ops": {"aten.sigmoid.default": 1}}},
    ]
    catalog = {c.id: c.subject for c in CASES}
    (tmp_path / "xnnpack_int8.toml").write_text(update(existing, records, "xnnpack_int8", catalog, "# header kept\n"))
    assert (tmp_path / "xnnpack_int8.toml").read_text().startswith("# header kept\n")
    validate("xnnpack_int8", CASES, tmp_path)
    by_id = {c.id: c for c in CASES}
    redrafted = for_case("xnnpack_int8", by_id["sigmoid-4d"], None, tmp_path)
    assert redrafted.float_ops == ("aten_sigmoid",) and redrafted.unsupported == "reviewed: fp32 in XNNPACK"
    assert for_case("xnnpack_int8", by_id["relu-4d"], None, tmp_path).cpu is None  # ran clean: its stale entry is gone
    assert for_case("xnnpack_int8", by_id["argmax-flattened"], None, tmp_path).cpu == ("aten_argmax",)
    assert for_case("xnnpack_int8", by_id["mean-all_dims"], None, tmp_path).xfail[0].stage == "lower"
    # sigmoid's other cases did not run: the operator-wide entries stay for them
    assert for_case("xnnpack_int8", by_id["sigmoid-saturating"], None, tmp_path).float_ops == ("aten_sigmoid",)
    assert for_case("xnnpack_int8", by_id["sigmoid-saturating"], None, tmp_path).tolerance == {"qtol_steps": 2}


def test_a_drafted_reason_belongs_to_its_own_group_of_executors_and_checks():
    """quantized eager off eager (the recipe) is said of that group only, not of a runtime off quantized eager too."""
    from etconform.analysis.draft import _check_entries

    def failing(executor, checks, err):
        return {**ONE_SEED, "executor": executor, "metrics": {"max_abs_err": err},
                "findings": [{"check": c, "stage": "compare", "message": f"{c}: max abs err {err}"} for c in checks]}

    entries = _check_entries([failing("quantized_eager", ["vs_eager"], 0.01),
                              failing("et_runtime", ["vs_eager", "vs_quantized"], 0.7)], "", RAN)
    by_executor = {tuple(e["executors"]): e["reason"] for e in entries}
    assert "the recipe" in by_executor[("quantized_eager",)]
    assert by_executor[("et_runtime",)].startswith("vs_eager: max abs err 0.7")


def test_an_entry_for_an_infinity_eager_lacks_bounds_how_many_elements_are_not_finite():
    """compare caps the error at an infinity to the largest float (asinh of -1e4 on tosa_fp gave -inf):
    the draft bounds the count of such elements, and one more infinity fails the entry."""
    import sys

    from etconform.analysis.draft import _check_entries
    from etconform.judging.expectations import KnownFailure
    from etconform.judging.policy import _within

    def failing(nonfinite):
        metrics = {"max_abs_err": sys.float_info.max, "sqnr_db": -300.0, "cosine": 0.0, "nonfinite_mismatches": nonfinite}
        return {**ONE_SEED, "executor": "tosa_ref", "metrics": metrics,
                "findings": [{"check": "vs_eager", "stage": "compare", "message": "vs eager: 1 of 80 elements NaN/inf"}]}

    (entry,) = _check_entries([failing(1)], "", RAN)
    assert "max_abs_err" not in entry["max"] and entry["max"]["nonfinite_mismatches"] == 1.1
    known = KnownFailure("asinh", "", ("tosa_ref",), ("vs_eager",), "", entry["max"], entry.get("min", {}))
    assert _within(known, failing(1)["metrics"]) == ""
    assert "nonfinite_mismatches 2 beyond" in _within(known, failing(2)["metrics"])


def test_a_program_with_nothing_delegated_and_no_compute_op_to_list_gets_a_partition_entry():
    """A cast alone on tosa_int: the partitioner rejects it, and a cast is no compute op, so no CPU list can
    say so; the draft writes a partition entry that covers that record and nothing else."""
    from etconform.analysis.draft import _xfails
    from etconform.judging.expectations import KnownFailure
    from etconform.judging.policy import known_failure

    rejected = {"_to_dim_order_copy.default": "Input dtype torch.float32 is not supported"}
    record = {"case": "to_dtype-rank2", "seed": 0, "executor": "tosa_ref", "outcome": "fail",
              "delegation": {"partitions": 0, "undelegated_ops": {}, "rejected": rejected},
              "findings": [{"stage": "partition", "check": "partition", "message": "no partition: nothing was delegated"}]}
    (entry,) = _xfails([record], {})["to_dtype-rank2"]
    assert entry["stage"] == "partition" and "Input dtype torch.float32" in entry["reason"]
    known = KnownFailure(entry["reason"], entry["stage"], (), (), entry["message"])
    assert known_failure(record, (known,))[0] == [known]
    on_cpu = {**record, "findings": [{"stage": "partition", "check": "partition",
                                      "message": "on the CPU, not in the expectations: aten_add_tensor"}]}
    assert known_failure(on_cpu, (known,))[0] == []


def test_a_drafted_stage_entry_matches_the_whole_message_with_only_numbers_and_paths_abstracted():
    """A missing kernel drafted from its first 60 characters once covered any missing kernel with that error code."""
    from etconform.analysis.draft import _pattern
    from etconform.judging.expectations import KnownFailure
    from etconform.judging.policy import known_failure

    said = ("method->execute() failed with error 0x14 | runtime log: Missing operator: [3] aten::erfinv.out "
            "(in /work/main/results/artifacts/tosa_int/erfinv-4d/program.pte)")
    entry = KnownFailure("erfinv has no portable kernel", stage="load", executors=("et_runtime",), message=_pattern(said))

    def covered(message: str) -> bool:
        record = {"executor": "et_runtime", "findings": [{"stage": "load", "check": "", "message": message}], "metrics": {}}
        return bool(known_failure(record, (entry,))[0])

    assert covered(said)
    assert covered(said.replace("[3]", "[12]").replace("0x14", "0x20").replace("/work/main", "/tmp/fresh"))
    assert not covered(said.replace("erfinv", "lgamma"))  # another kernel missing: another failure
    assert not covered(said + "; and more")
    assert not covered(said.replace("int8", "int16").replace("tosa_int/", "tosa_int16/").replace("Missing", "Broken"))
    shape = "vs eager: output 0 has shape (1, 4), expected (1, 3)"  # a known wrong shape, not any wrong shape
    assert re.search(_pattern(shape), shape) and not re.search(_pattern(shape), shape.replace("(1, 4)", "(2, 4)"))
    crash = "worker 'gw0' crashed while running 'suites/ethos_u/test_operators.py::test_operator[relu-4d-tosa_int]'"
    assert re.search(_pattern(crash), crash.replace("gw0", "gw3"))  # a known crash on another worker too
    # A message cut at a fixed width: a number of another width earlier moves the cut; the tail stays open.
    cut = lambda n: (f"error {n} in " + "x" * 400)[:300]  # noqa: E731
    assert re.search(_pattern(cut(9)), cut(123)) and not re.search(_pattern(cut(9)), "warning 9 in " + "x" * 288)
    from etconform.analysis.draft import _xfails

    bad_case = {"case": "relu-4d", "seed": 0, "executor": "eager", "outcome": "error",
                "findings": [{"stage": "case", "check": "", "message": "bad case, eager PyTorch raised"}]}
    assert _xfails([bad_case], {}) == {}  # a bad case is the suite's bug: no known failure can cover it


def test_an_update_keeps_a_message_pattern_narrowed_by_hand_only_while_it_matches():
    from etconform.analysis.draft import _keep_reviewed

    said = "TOSA reference model exited with status 1: ValueError: "
    drafted = {"stage": "run", "executors": ["tosa_ref"], "message": re.escape(said + "Inval"), "reason": "raw"}
    reviewed = {**drafted, "message": f"^{said}Invalid TOSA graph.*$", "reason": "the graph fails validation"}
    kept = _keep_reviewed(drafted, reviewed, [said + "Invalid TOSA graph (stderr ends: ...)"])
    assert (kept["message"], kept["reason"]) == (f"^{said}Invalid TOSA graph.*$", "the graph fails validation")
    assert _keep_reviewed(drafted, reviewed, [said + "Invalid inputs."])["message"] == drafted["message"]
    # A reviewed pattern of the first words only (drafted before whole messages) gives way to the whole one.
    prefix = {**reviewed, "message": said + "Invalid TOSA graph"}
    assert _keep_reviewed(drafted, prefix, [said + "Invalid TOSA graph (stderr ends: ...)"])["message"] == drafted["message"]


def test_a_failing_case_the_draft_gives_no_entry_is_named():
    from etconform.analysis.draft import uncovered

    records = [{"case": c, "target": "tosa_int", "outcome": o} for c, o in
               (("to_dtype-rank2", "fail"), ("relu-4d", "pass"), ("sigmoid-saturating", "mismatch"), ("abs-4d", "fail"))]
    parsed = {"xfail": {"sigmoid": {}}, "unsupported": {"abs-4d": {}}}
    catalog = {"to_dtype-rank2": "to_dtype", "relu-4d": "relu", "sigmoid-saturating": "sigmoid", "abs-4d": "abs"}
    assert uncovered(records, "tosa_int", parsed, catalog) == ["to_dtype-rank2"]
    assert uncovered(records, "tosa_fp", parsed, catalog) == []


def test_executors_failing_one_stage_in_their_own_words_get_an_entry_each():
    from etconform.analysis.draft import _stage_entries

    def failing(executor, message):
        return {**ONE_SEED, "executor": executor, "findings": [{"check": "", "stage": "run", "message": message}]}

    entries = _stage_entries([failing("et_runtime", "RuntimeError: Check failed (dtype)"),
                              failing("quantized_eager", "RuntimeError: expected scalar type Half")], "", RAN)
    assert sorted((e["executors"], e["message"]) for e in entries) == [
        (["et_runtime"], "^" + re.escape("RuntimeError: Check failed (dtype)") + "$"),
        (["quantized_eager"], "^" + re.escape("RuntimeError: expected scalar type Half") + "$")]


def test_an_update_keeps_each_reviewed_reason_with_its_own_entry():
    import tomllib

    from etconform.analysis.draft import update

    existing = {"xfail": {"c-x": [
        {"stage": "run", "message": "x", "executors": ["quantized_eager"], "reason": "the recipe's eager refuses it"},
        {"executors": ["et_runtime"], "checks": ["vs_eager"], "max": {"max_abs_err": 1.0}, "reason": "a kernel's roundoff"}]}}
    records = [
        {"target": "t", "case": "c-x", "seed": 0, "executor": "quantized_eager", "outcome": "fail", "metrics": {},
         "findings": [{"check": "", "stage": "run", "message": "RuntimeError: expected Half"}]},
        {"target": "t", "case": "c-x", "seed": 0, "executor": "et_runtime", "outcome": "mismatch", "metrics": {"max_abs_err": 0.5},
         "findings": [{"check": "vs_eager", "stage": "compare", "message": "vs eager: max abs err 0.5"}]}]
    entries = tomllib.loads(update(existing, records, "t", {"c-x": "c"}))["xfail"]["c-x"]
    assert {e.get("stage", "compare"): e["reason"] for e in entries} == {
        "run": "the recipe's eager refuses it", "compare": "a kernel's roundoff"}


def test_an_update_like_a_sibling_borrows_only_reasons_that_say_the_same():
    """A sibling's reason is taken where its entry lists the same ops or stage and message, never else."""
    import tomllib

    from etconform.analysis.draft import update

    sibling = {"unsupported": {"c-a": {"cpu": ["op_x"], "reason": "x stays on the CPU"},
                               "c-b": {"cpu": ["op_x"], "reason": "b differs"}},
               "xfail": {"c-a": {"stage": "load", "message": "no kernel", "reason": "no out variant"}}}
    records = [
        {"target": "t", "case": "c-a", "seed": 0, "executor": "et_runtime", "role": "lowered", "outcome": "fail",
         "delegation": {"undelegated_ops": {"op_x": 1}},
         "findings": [{"check": "", "stage": "load", "message": "no kernel"}]},
        {"target": "t", "case": "c-b", "seed": 0, "executor": "et_runtime", "role": "lowered", "outcome": "fail",
         "delegation": {"undelegated_ops": {"op_y": 1}},
         "findings": [{"check": "", "stage": "load", "message": "another cause"}]}]
    drafted = tomllib.loads(update({}, records, "t", {"c-a": "c", "c-b": "c"}, like=(("sib", sibling),)))
    assert drafted["unsupported"]["c-a"]["reason"] == "as on sib: x stays on the CPU"
    assert drafted["unsupported"]["c-b"]["reason"] != "as on sib: b differs"  # other ops: not the same thing
    assert drafted["xfail"]["c-a"]["reason"] == "as on sib: no out variant"
    assert drafted["xfail"]["c-b"]["reason"] == "another cause"


def test_a_numeric_entry_borrows_a_reason_only_within_the_siblings_ceilings():
    import tomllib

    from etconform.analysis.draft import update

    def sibling(ceiling):
        return {"xfail": {"c-a": {"executors": ["tosa_ref"], "checks": ["vs_quantized"],
                                  "max": {"max_err_qsteps": ceiling}, "reason": "int16 TABLE interpolation"}}}
    records = [{"target": "t", "case": "c-a", "seed": 0, "executor": "tosa_ref", "outcome": "mismatch",
                "metrics": {"max_err_qsteps": 20.0},
                "findings": [{"check": "vs_quantized", "stage": "compare", "message": "20 steps > 1"}]}]

    def drafted(ceiling):
        return tomllib.loads(update({}, records, "t", {"c-a": "c"}, like=(("sib", sibling(ceiling)),)))["xfail"]["c-a"]

    assert drafted(25.0)["reason"] == "as on sib: int16 TABLE interpolation"  # 22 (20 + 10 %) fits under 25
    assert drafted(21.0)["reason"] == "20 steps > 1"  # worse than the sibling allows: not the same finding


def test_a_draft_says_the_lowered_program_agrees_with_the_recipe_only_where_that_was_checked():
    from etconform.analysis.draft import _check_entries

    def failing(executor, role, checks):
        return {**ONE_SEED, "executor": executor, "role": role, "metrics": {"max_abs_err": 0.01}, "checks": checks,
                "findings": [{"check": "vs_eager", "stage": "compare", "message": "vs_eager: off"}]}

    checked = _check_entries([failing("quantized_eager", "reference", ["vs_eager"]),
                              failing("tosa_ref", "lowered", ["vs_eager", "vs_quantized"])], "", RAN)
    assert "the lowered program agrees with it" in checked[0]["reason"]
    unchecked = _check_entries([failing("quantized_eager", "reference", ["vs_eager"]),
                                failing("tosa_ref", "lowered", ["vs_eager"])], "", RAN)
    assert "agrees" not in unchecked[0]["reason"] and unchecked[0]["reason"].startswith("quantized eager")


def test_the_report_names_the_cases_whose_expectations_come_from_older_drafts(tmp_path, monkeypatch):
    import functools

    from etconform.analysis import report
    from etconform.judging import expectations

    (tmp_path / "tosa_int.toml").write_text(
        '[unsupported]\n"argmin-dim0" = {cpu = ["aten_argmin_default"], reason = "by name"}\n'
        '"argmin-last_dim" = {cpu = {aten_argmin_default = 1}, partitions = 0, reason = "by count"}\n'
        '[xfail."mean-all_dims"]\nstage = "lower"\nmessage = "StopIter"\nreason = "first words"\n'
        '[xfail."mean-dim0"]\nstage = "lower"\nmessage = "^StopIteration$"\nreason = "whole"\n')
    monkeypatch.setattr(expectations, "for_case", functools.partial(expectations.for_case, directory=tmp_path))
    records = [{"case": c, "target": "tosa_int"} for c in ("argmin-dim0", "argmin-last_dim", "mean-all_dims", "mean-dim0")]
    (caveat,) = report._older_drafts(records)
    assert "tosa_int: 1 by a message's first words, 1 CPU lists by name, not count" in caveat
    assert report._older_drafts(records[1::2]) == []


def test_no_known_failure_is_drafted_for_the_grid_bounds_a_baseline_retires():
    from etconform.analysis.draft import _xfails, uncovered

    grid = {"stage": "compare", "check": "vs_eager", "message": "vs eager on rounded inputs: 5 steps > 3 at output 0[1]"}
    other = {"stage": "compare", "check": "vs_quantized", "message": "vs quantized eager: 3 steps > 1 at output 0[1]"}
    measured = {"ideal_gap_db": 0.5, "max_err_gap_db": 1.0, "max_err_qsteps_vs_rounded": 5.0, "max_err_qsteps": 3.0}

    def record(*findings, **metrics):
        return {"case": "relu-4d", "seed": 0, "target": "tosa_int", "executor": "tosa_ref", "outcome": "mismatch",
                "findings": list(findings), "metrics": {**measured, **metrics}}

    assert _xfails([record(grid)], {}) == {} and uncovered([record(grid)], "tosa_int", {}, {}) == []
    (entry,) = _xfails([record(grid, other)], {})["relu-4d"]
    assert entry["checks"] == ["vs_quantized"]
    unmeasured = record(grid, ideal_gap_db=None)  # no ideal gap to judge it: the grid bound stays, and its entry
    assert _xfails([unmeasured], {})["relu-4d"][0]["checks"] == ["vs_eager"]


def test_the_report_fails_a_run_whose_known_failure_passed_as_pytest_does(tmp_path, monkeypatch):
    """No record failed, but a known failure of the run's seed did not happen: pytest fails the test
    (XPASS strict), and the report's banner says FAIL and names it. On another seed the entry is not there."""
    import functools

    from etconform.analysis import report
    from etconform.cases import mixed_seed
    from etconform.judging import expectations

    (tmp_path / "tosa_int.toml").write_text(
        '[xfail."relu-4d"]\nexecutors = ["tosa_ref"]\nchecks = ["vs_quantized"]\nmax = {max_err_qsteps = 2}\n'
        'seeds = [1]\nreason = "was 2 steps off"\n')
    monkeypatch.setattr(expectations, "for_case", functools.partial(expectations.for_case, directory=tmp_path))

    def run(seed):
        return [{"case": "relu-4d", "target": "tosa_int", "executor": "tosa_ref", "role": "lowered", "level": "tosa",
                 "outcome": "pass", "seed": mixed_seed("relu-4d", seed), "checks": ["vs_quantized", "vs_eager"],
                 "findings": [], "metrics": {}}]

    stale = report.verdict(run(1), [])
    assert stale["status"] == "FAIL" and stale["counts"]["unexpected_expectations"] == 1
    assert "relu-4d on tosa_int: XPASS(strict): tosa_ref passed vs_quantized" in stale["caveats"][0]
    assert report.verdict(run(0), [])["status"] == "PASS"
