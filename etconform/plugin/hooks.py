"""The pytest plugin: options, markers, the `conformance` fixture, record merging."""

from __future__ import annotations

import collections
import json
import os
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from etconform.judging import policy
from etconform.plugin.progress import Progress
from etconform.records import Outcome, RecordWriter, clear_parts, merge_parts
from etconform.targets import TARGETS

MARKERS = {
    "operator": "single-operator cases",
    "model": "whole-model cases",
    "smoke": "a fast subset, a few cases per target",
    "dynamic": "cases with dynamic shapes: lowered once, run at several sizes",
    "heavy": "hours of lowering per test here: run only under -m naming heavy, or named by node id",
    "xnnpack": "XNNPACK backend targets",
    "tosa": "TOSA backend targets (TOSA reference model)",
    "ethos_u": "Arm Ethos-U targets (TOSA reference model + Vela)",
    **{name: f"target {name}" for name in TARGETS},
}
_MERGE_EVERY_S = 5.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("etconform")
    group.addoption("--results-dir", default="results", help="where records.jsonl and reports go (default: results/)")
    group.addoption(
        "--seed", type=int, default=int(os.environ.get("ETCONFORM_SEED", "0")),
        help="base seed for weights and inputs (default: $ETCONFORM_SEED or 0)",
    )
    group.addoption(
        "--weights", choices=("random", "pretrained"), default=os.environ.get("ETCONFORM_WEIGHTS", "random"),
        help="model weights: seeded random (default), or pretrained from disk (torch hub / Hugging Face cache)",
    )
    group.addoption(
        "--cache-dir", default=os.environ.get("ETCONFORM_CACHE_DIR"),
        help="artifact cache: lowerings and executor outputs kept between runs "
        "(default: $ETCONFORM_CACHE_DIR or ~/.cache/etconform/artifacts)",
    )
    group.addoption("--localize", action="store_true",
                    help="find the first layer at which each model's lowered program departs from quantized eager "
                    "and from eager (a mismatching model that no known failure covers is localized unasked)")
    group.addoption("--no-cache", action="store_true", help="lower and run everything afresh; read and write no cache")
    group.addoption("--cache-audit", type=float, default=0.0, metavar="SHARE",
                    help="lower and run afresh this share of cache hits (0 to 1, the same cases every run) and fail "
                         "any whose kept outputs differ")
    group.addoption("--baseline", default=None,
                    help="a results folder of an earlier run: the report adds `etconform qualify`'s verdict against it")
    group.addoption("--memory-budget", default=os.environ.get("ETCONFORM_MEMORY_BUDGET"),
                    help="the models table says whether each fits, e.g. sram=384KiB,flash=2MiB (or $ETCONFORM_MEMORY_BUDGET)")
    # Executors read their configuration from the environment, so tools besides pytest can set it too.
    for option, env, text in _EXECUTOR_OPTIONS:
        group.addoption(option, default=None, help=f"{text} (or ${env})")


_EXECUTOR_OPTIONS = (
    ("--fvp-path", "ETCONFORM_FVP_PATH", "folders with the Corstone FVP binaries, separated by ':'"),
    ("--arm-runner", "ETCONFORM_ARM_RUNNER", "an arm_executor_runner ELF, or ExecuTorch's arm_test/ build folder"),
    ("--fvp-timeout", "ETCONFORM_FVP_TIMEOUT", "seconds an FVP run may take (default 120)"),
    ("--stage-timeout", "ETCONFORM_STAGE_TIMEOUT", "seconds a lowering stage may take, e.g. lower=600,export=60 "
     "(defaults: export 600, quantize 900, lower 3600, serialize 600)"),
    ("--device", "ETCONFORM_DEVICE", "a Linux board: ssh://user@host[:port][?python=PATH]"),
    ("--devices", "ETCONFORM_DEVICES", "a TOML file of devices and the targets each serves"),
)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def results_dir(config: pytest.Config) -> Path:
    return Path(config.getoption("--results-dir")).resolve()


def pytest_configure(config: pytest.Config) -> None:
    os.environ["ETCONFORM_WEIGHTS"] = config.getoption("--weights")  # read by models/_weights.py
    for option, env, _ in _EXECUTOR_OPTIONS:
        if config.getoption(option) is not None:
            os.environ[env] = str(config.getoption(option))
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    _check_configuration(config.getoption("--memory-budget") or "", config.getoption("--baseline"))
    if not _is_worker(config):
        results_dir(config).mkdir(parents=True, exist_ok=True)
        clear_parts(results_dir(config))
        config.pluginmanager.register(_Merger(config), "etconform-merger")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        # Workers share the cores: one thread each keeps timings honest and avoids thrashing.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def _check_configuration(budget: str = "", baseline: str | None = None) -> None:
    """A malformed option or file stops the run at start, naming it, rather than skipping every case."""
    from etconform.judging.budget import parse_budget
    from executors.device import configured

    try:
        parse_budget(budget)
    except ValueError as exc:
        raise pytest.UsageError(f"etconform: --memory-budget: {exc}") from exc
    if baseline and not (Path(baseline) / "records.jsonl").is_file():
        raise pytest.UsageError(f"etconform: --baseline {baseline}: no records.jsonl there (a results folder of a run)")

    try:
        configured()
    except (ValueError, OSError) as exc:
        raise pytest.UsageError(f"etconform: bad device configuration (--device/--devices): {exc}") from exc
    from etconform.stages import parse_timeouts

    try:
        parse_timeouts(os.environ.get("ETCONFORM_STAGE_TIMEOUT", ""))
    except ValueError as exc:
        raise pytest.UsageError(f"etconform: --stage-timeout: {exc}") from exc
    timeout = os.environ.get("ETCONFORM_FVP_TIMEOUT")
    if timeout is not None and not (timeout.isdigit() and int(timeout) > 0):
        raise pytest.UsageError(f"etconform: --fvp-timeout {timeout!r}: expected a whole number of seconds")


class Conformance:
    """Runs a case on a target, writes its records, and turns them into a test outcome."""

    def __init__(self, config: pytest.Config):
        self.results_dir = results_dir(config)
        self.seed = config.getoption("--seed")
        self.writer = RecordWriter(self.results_dir, os.environ.get("PYTEST_XDIST_WORKER", "main"))
        self.config = config
        self.cache, self.cache_salt = None, ""
        if not config.getoption("--no-cache"):
            from etconform.lowering.cache import DEFAULT_DIR, ArtifactCache

            self.cache = ArtifactCache(Path(config.getoption("--cache-dir") or DEFAULT_DIR), config.getoption("--cache-audit"))

    def _salt(self) -> str:
        """Computed on the first case, when every conftest and plugin is loaded."""
        if not self.cache_salt:
            from etconform.lowering.cache import in_process

            self.cache_salt = in_process(list(self.config.pluginmanager.get_plugins()))
        return self.cache_salt

    def check(self, case: Any, target: Any, test_id: str) -> None:
        from etconform.judging import policy
        from etconform.judging.expectations import for_case
        from etconform.runner import run_case
        from etconform.stages import follow

        expect = for_case(target.name, case, self.seed)
        follow(breadcrumb(self.results_dir, os.environ.get("PYTEST_XDIST_WORKER", "main")), test_id)
        run = run_case(case, target, self.results_dir, self.writer, self.seed, test_id, expect,
                       self.cache, self._salt() if self.cache else "", self.config.getoption("--localize"))
        from etconform.analysis.report import reproduce

        again = " or ".join(reproduce(case.id, target.name, self.seed, test_id))
        judgement = policy.judge(run.records, expect, f"seed {case.seed(self.seed)}; reproduce: {again}\n{run.summary()}")
        _attach_to_allure(run, case, target, judgement)
        if judgement.action == policy.Action.FAIL:
            pytest.fail(judgement.message, pytrace=False)
        if judgement.action == policy.Action.XFAIL:
            pytest.xfail(f"known failure at {policy.case_outcome(run.records)[1] or 'compare'}: {judgement.message}")
        if judgement.action == policy.Action.SKIP:
            pytest.skip(judgement.message)


def _attach_to_allure(run: Any, case: Any, target: Any, judgement: Any) -> None:
    """With --alluredir, each test carries its records, their summary and the labels an Allure report
    groups by (backend, target, family, operator, stage, outcome, known failure); a no-op without."""
    try:
        import allure
    except ImportError:
        return
    outcome, stage = policy.case_outcome(run.records) if run.records else ("", "")
    allure.dynamic.parent_suite(target.backend)
    allure.dynamic.suite(target.name)
    allure.dynamic.sub_suite(case.subject)
    labels = {"backend": target.backend, "target": target.name, "family": family(case), "operator": case.subject,
              "kind": case.kind, "outcome": outcome, "stage": stage,
              "known_failure": judgement.message if judgement.action == policy.Action.XFAIL else ""}
    for name, value in labels.items():
        if value:
            allure.dynamic.label(name, value[:200])
    allure.attach(json.dumps(run.records, indent=1, default=str), "records.json", allure.attachment_type.JSON)
    allure.attach(run.summary(), "summary.txt", allure.attachment_type.TEXT)


def family(case: Any) -> str:
    """The operator family: the catalog file that defines the case (operators/<family>.py), or models."""
    where = getattr(case.module, "__module__", "") or ""
    return "models" if case.kind == "model" else where.rsplit(".", 1)[-1]


@pytest.fixture(scope="session")
def _conformance(pytestconfig: pytest.Config) -> Conformance:
    return Conformance(pytestconfig)


@pytest.fixture
def conformance(_conformance: Conformance, request: pytest.FixtureRequest) -> Any:
    return lambda case, target: _conformance.check(case, target, request.node.nodeid)


def breadcrumb(folder: Path, worker: str) -> Path:
    """The file where a worker's current test writes each stage it enters (etconform.stages.follow)."""
    return folder / ".parts" / f"stage-{worker}"


def crash_record(nodeid: str, why: str, stage: str | None = None, seed: int = 0) -> dict[str, Any] | None:
    """The record of a test whose process died, from its id `...[<case id>-<target>]`, decided by the
    policy like any other (a known crash is a known failure); `stage`: the last one it entered, if known
    (else `run`); `seed`: the run's base seed."""
    from etconform.judging import policy
    from etconform.judging.expectations import Expectation, ExpectationError, for_case
    from etconform.plugin.catalog import by_id
    from etconform.plugin.grouping import param_of, split
    from etconform.records import new_record

    parts = split(param_of(nodeid))
    case = by_id().get(parts[0]) if parts else None
    if case is None:
        return None
    stage = stage or "run"
    message = f"the test process crashed (a native abort or segfault in a dependency) at {stage}: {why}"
    record = new_record(case, TARGETS[parts[1]], "process", seed, nodeid, message=message,
                        findings=[policy.finding(stage, "", message)])
    try:
        expect = for_case(parts[1], case, seed)
    except ExpectationError:  # collection said so already; the crash still gets its record
        expect = Expectation()
    return policy.judged(record, expect)


class _Merger:
    """On the controller: merge the workers' records while the run goes on, and at its end."""

    def __init__(self, config: pytest.Config):
        from etconform.plugin import runinfo

        self.config = config
        self.last = 0.0
        self.records: list[dict[str, Any]] = []
        self.report_error = ""  # why the report could not be written at the end, if it could not
        self.unverified = ""  # why the run verified nothing, if it did not
        self.heavy: list[str] = []  # the heavy tests the run left out (param ids)
        self.info = runinfo.start(list(config.invocation_params.args), list(config.args),
                                  getattr(config.option, "numprocesses", None) or 1)
        self.info["memory_budget"] = config.getoption("--memory-budget") or ""
        self.info["base_seed"] = config.getoption("--seed")
        self.progress = Progress(getattr(config.option, "numprocesses", None) or 1)
        self.plan = ""  # what the run will take, said once

    def say(self, line: str) -> None:
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if line and terminal is not None:
            if getattr(getattr(terminal, "_tw", None), "width_of_current_line", 0):  # xdist's dots: not its own line
                terminal.write("\n")
            terminal.write_line(line)

    # The plan is said with the first test's report: under xdist -q the status line would overwrite it sooner.
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.plan = self.progress.plan([item.nodeid for item in session.items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:  # noqa: ARG002
        if not self.progress.planned:  # every worker collects the same tests
            self.plan = self.progress.plan(list(ids))

    def left_out(self, ids: list[str]) -> None:
        """Heavy tests deselected, said at the end and in run.json (the report lists them)."""
        self.heavy = sorted(set(self.heavy) | set(ids))
        if self.heavy:
            self.info.setdefault("selection", {})["heavy_not_run"] = self.heavy

    def merge(self, force: bool = False) -> None:
        if not any((results_dir(self.config) / ".parts").glob("records-*.jsonl")):
            return  # a session without conformance tests (the self-tests) leaves an earlier run's records alone
        if force or time.monotonic() - self.last >= _MERGE_EVERY_S:
            self.last = time.monotonic()
            self.records = merge_parts(results_dir(self.config))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.say(self.plan)
        self.plan = ""
        self.progress.timed(report.nodeid, report.duration, report.failed)
        if report.when == "teardown":
            self.merge()
            self.say(self.progress.finished(report.nodeid))

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:  # noqa: ARG002
        """An xdist worker died inside a test (a native crash): record it; xdist restarts the worker."""
        from etconform.stages import last_entered

        worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", "")
        stage = last_entered(breadcrumb(results_dir(self.config), worker), crashitem) if worker else None
        record = crash_record(crashitem, str(report.longrepr)[-600:], stage, self.config.getoption("--seed"))
        if record:
            RecordWriter(results_dir(self.config), "controller").write(record)
            if record["outcome"] == Outcome.XFAIL:  # a crash the expectations know: counted as the known failure it is
                report.outcome, report.wasxfail = "skipped", f"known failure at {record['stage']}: {record['expected']}"

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.progress.save()
        alluredir = getattr(self.config.option, "allure_report_dir", None)
        if alluredir:
            from etconform.plugin import allure_files

            allure_files.write(Path(alluredir), self.info)
        self.merge(force=True)
        self.unverified = policy.unverified_run(self.records) if self.records else ""
        if self.unverified and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.records:
            from etconform.analysis import report
            from etconform.plugin import runinfo

            folder = results_dir(self.config)
            runinfo.finish(folder, self.info, int(exitstatus), len({r.get("test_id") for r in self.records}))
            baseline = self.config.getoption("--baseline")
            try:
                report.write(folder, self.records, Path(baseline) if baseline else None)
            except Exception as exc:  # noqa: BLE001 - a report bug must not cost the records or pass unseen
                self.report_error = f"{type(exc).__name__}: {exc}"
                for name in ("report.html", "report.md", "report.json"):  # no report of an earlier run stays behind
                    (folder / name).unlink(missing_ok=True)
                (folder / "report_error.txt").write_text(traceback.format_exc())
                session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def _slowest(records: list[dict[str, Any]], n: int = 5) -> list[str]:
    """The n slowest (case, target) pairs, with the stage that took longest."""
    took: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        key = (r["case"], r["target"])
        if r.get("seconds", 0) >= took.get(key, {}).get("seconds", -1):
            took[key] = r
    lines = []
    for (case, target), r in sorted(took.items(), key=lambda kv: -kv[1].get("seconds", 0))[:n]:
        stages = r.get("lowering_seconds") or {}
        worst = max(stages.items(), key=lambda kv: kv[1], default=None)
        lines.append(f"{case} on {target} {r.get('seconds', 0):.0f} s" + (f" ({worst[0]} {worst[1]:.0f} s)" if worst else ""))
    return lines


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    merger = config.pluginmanager.get_plugin("etconform-merger")
    heavy = merger.heavy if merger else []
    if heavy:
        from etconform.plugin.grouping import case_of

        cases = collections.Counter(case_of(p) or p for p in heavy)
        listed = ", ".join(f"{case} on {n} target{'s' * (n > 1)}" for case, n in sorted(cases.items()))
        terminalreporter.write_line(f"etconform: {len(heavy)} heavy tests not run ({listed}): each lowers for hours "
                                    f"here; -m heavy (or -m 'heavy or model', or the node id) runs them")
    records = merger.records if merger else []
    if not records:
        return
    failed = merger.report_error
    if failed:
        folder = results_dir(config)
        terminalreporter.write_line(f"etconform: the report could not be written ({failed}): the {len(records)} records "
                                    f"are in {folder / 'records.jsonl'}, the traceback in {folder / 'report_error.txt'}; "
                                    f"python -m etconform report {folder} rebuilds the report", red=True)
    tally = collections.Counter((r["target"], r["outcome"]) for r in records)
    terminalreporter.section("etconform")
    if merger.unverified:
        terminalreporter.write_line(f"etconform: {merger.unverified}; the run fails", red=True)
    for target in sorted({t for t, _ in tally}):
        counts = ", ".join(f"{o} {n}" for (t, o), n in sorted(tally.items()) if t == target)
        terminalreporter.write_line(f"{target:16s} {counts}")
    slowest = _slowest(records)
    if slowest:
        terminalreporter.write_line("slowest cases: " + "; ".join(slowest))
    terminalreporter.write_line(f"{len(records)} records -> {results_dir(config) / 'records.jsonl'}")
    terminalreporter.write_line(f"report -> {results_dir(config) / 'report.html'} (and .md, .json, support_matrix.md)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Heavy tests only when asked; a case's operator tests one after another: they share its
    build and export (etconform.plugin.grouping)."""
    from etconform.plugin.grouping import case_major, param_of

    heavy = unasked_heavy(items, config.getoption("markexpr") or "", config.args)
    if heavy:
        config.hook.pytest_deselected(items=heavy)
        items[:] = [item for item in items if item not in heavy]
        ids = [param_of(item.nodeid) for item in heavy]
        if _is_worker(config):  # under xdist the controller collects nothing: it hears of them from the workers
            config.workeroutput["etconform_heavy"] = ids
        merger = config.pluginmanager.get_plugin("etconform-merger")
        if merger is not None:
            merger.left_out(ids)
    case_major(items)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:  # noqa: ARG001
    """An xdist worker's heavy tests left out, for the controller's summary and run.json."""
    merger = node.config.pluginmanager.get_plugin("etconform-merger")
    if merger is not None:
        merger.left_out((getattr(node, "workeroutput", None) or {}).get("etconform_heavy", []))


def unasked_heavy(items: list[Any], markexpr: str, args: list[str]) -> list[Any]:
    """The heavy tests that neither -m (naming `heavy`) nor a node id on the command line asked for."""
    if "heavy" in markexpr:
        return []
    named = {arg.split("::", 1)[1] for arg in args if "::" in arg}
    return [item for item in items if item.get_closest_marker("heavy") and item.nodeid.split("::", 1)[1] not in named]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under -n, xdist's default `load` keeps a case's operator tests on one worker; any other --dist is xdist's."""
    from etconform.lowering.shared import OFF

    if config.getvalue("dist") != "load" or os.environ.get(OFF):
        return None
    from etconform.plugin.grouping import make_scheduler

    return make_scheduler(config, log)
