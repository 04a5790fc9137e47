"""The command stream executor (executors/ethosu_stream.py) through the real runner, and its package reader.

One model is lowered once for ethos_u55_128; each test hands the runner that lowering (the
`lower` stage returns it), as lowered or with its delegate's processed bytes tampered the way a
wrong Vela would: a round mode, an OFM zero point, a scale record's shift, one weight. A clean
stream must agree exactly and pass at level "stream"; each tamper must fail the case at compare,
naming the delegate, how many values differ and by how much; a mode the functional model lacks
must be a skip naming it, never a pass.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import etconform.execute as execute
from etconform.analysis import report
from etconform.judging import policy
from etconform.judging.expectations import Expectation, KnownFailure
from etconform.lowering.vela import digest
from etconform.targets import TARGETS
from executors.ethosu.package import HEADER, Package, fast_scratch_bytes, parse
from executors.ethosu.stream import decode
from tests.conftest import by_executor
from tests.test_ethosu_npu import (
    _before,
    _one_weight_moved,
    _param_plus_one,
    _round_mode_tfl,
    _set_word,
    _weight_data_offset,
    _word,
)
from tests.test_ethosu_stream import MODELS

CASE = MODELS["conv2d"]
OPERATION = "NPU_OP_CONV"
# The executors that matter here: the reference, the TOSA reference model and the stream.
TARGET = dataclasses.replace(TARGETS["ethos_u55_128"], executors=("quantized_eager", "tosa_ref", "stream"))


@dataclasses.dataclass
class Lowering:
    lowered: Any  # etconform.lowering.pipeline.Lowered
    vela_npz: dict[str, Any]  # the arrays of output/out_vela.npz (one delegate: its own)
    processed: bytes


@pytest.fixture(scope="module")
def lowering(tmp_path_factory: pytest.TempPathFactory) -> Lowering:
    from etconform.lowering.pipeline import lower

    workdir = tmp_path_factory.mktemp("conv2d")
    built = CASE.build_all(0)
    lowered = lower(built.module, built.samples[0], TARGET, workdir, built.calibration)
    assert len(lowered.delegates) == 1, "one delegate"
    with np.load(workdir / "output" / "out_vela.npz", allow_pickle=True) as data:
        vela = {key: data[key] for key in data.files}
    return Lowering(lowered, vela, _delegate_modules(lowered)[0].processed_bytes)


def _delegate_modules(lowered: Any) -> list[Any]:
    from executorch.exir.lowered_backend_module import LoweredBackendModule

    return [m for _, m in lowered.edge_program.graph_module.named_children() if isinstance(m, LoweredBackendModule)]


def pack(package: Package) -> bytes:
    """The processed bytes of a package, as executorch/backends/arm/arm_vela.py writes them."""
    def ios(items: tuple) -> bytes:
        return struct.pack("<i", len(items)) + b"".join(
            struct.pack("<9i", *io.shape, io.elem_size, io.offset, io.region) for io in items)

    blocks = {HEADER: b"", "cmd_data": package.cmd_data, "weight_data": package.weight_data,
              "scratch_size": struct.pack("<I", package.scratch_size), "inputs": ios(package.inputs),
              "outputs": ios(package.outputs), "vela_end_stream": b""}
    return b"".join(struct.pack("<16sIB11s", name.encode(), len(data), 0, b"\0" * 11) + data
                    + b"\0" * (-len(data) % 16) for name, data in blocks.items())


# --- the package ------------------------------------------------------------------------

def test_the_package_holds_what_vela_wrote(lowering):
    package = parse(lowering.processed)
    vela, npz = package.as_vela(), lowering.vela_npz
    assert package.cmd_data == npz["cmd_data"].tobytes() and package.weight_data == npz["weight_data"].tobytes()
    assert package.scratch_size == int(npz["scratch_size"])
    for key in ("input_shape", "input_elem_size", "input_offset", "input_region",
                "output_shape", "output_elem_size", "output_offset", "output_region"):
        assert np.array_equal(vela[key], npz[key]), key
    assert (vela["weight_region"], vela["scratch_region"]) == (int(npz["weight_region"]), int(npz["scratch_region"]))
    assert pack(package) == lowering.processed  # every byte accounted for


@pytest.mark.parametrize(("damage", "message"), [
    (lambda b: b[:-32], "no 'vela_end_stream' block: truncated"),
    (lambda b: b[:100], "says .* bytes, .* remain|cut off"),
    (lambda b: b"x" + b[1:], "starts with block"),
    (lambda b: b[:32 + 32] + b"COPX" + b[32 + 36:], "'COP1'"),
    (lambda b: b[:32] + b"weird_block\0\0\0\0\0" + b[48:], "unknown block 'weird_block'"),
    (lambda b: b + b"\0" * 16, "follow 'vela_end_stream'"),
])
def test_a_damaged_package_raises_a_clear_value_error(lowering, damage, message):
    with pytest.raises(ValueError, match=message):
        parse(damage(lowering.processed))


# --- the executor through the runner ----------------------------------------------------

def _tampered(lowering: Lowering, change: Callable[[dict[str, Any]], dict[str, Any]] | None) -> Any:
    """A copy of the lowering whose delegate carries `change`d Vela output (None: as lowered)."""
    lowered = copy.copy(lowering.lowered)
    lowered.edge_program = copy.deepcopy(lowering.lowered.edge_program)
    if change is not None:
        package = parse(lowering.processed)
        vela = change(package.as_vela())
        processed = pack(dataclasses.replace(package, cmd_data=vela["cmd_data"].tobytes(),
                                             weight_data=vela["weight_data"].tobytes()))
        _delegate_modules(lowered)[0]._processed_bytes = processed
        lowered.delegates = [dataclasses.replace(lowering.lowered.delegates[0], digest=digest(processed))]
    return lowered


@pytest.fixture
def run_lowered(lowering, run_one, monkeypatch):
    def run(change: Callable[[dict[str, Any]], dict[str, Any]] | None = None, expect: Expectation | None = None):
        lowered = _tampered(lowering, change)
        lowered.pte_path = run_one.results_dir / "program.pte"  # records name it relative to the results
        lowered.pte_path.write_bytes(lowered.pte)
        monkeypatch.setattr(execute, "lower", lambda *args, **kwargs: lowered)
        return run_one(CASE, TARGET, expect)

    return run


def _one_shift_plus_one(vela: dict[str, Any], operation: str) -> dict[str, Any]:
    """Channel 0's 6-bit shift (byte 9 of its 10-byte scale record) one more: its outputs halve."""
    commands = decode(vela["cmd_data"].tobytes())
    base = int(_before(commands, operation, "NPU_SET_SCALE_BASE").fields["data"])
    record = _weight_data_offset(commands, operation, base)
    weight_data = bytearray(vela["weight_data"].tobytes())
    weight_data[record + 9] = (weight_data[record + 9] & 0xC0) | ((weight_data[record + 9] & 0x3F) + 1)
    return {**vela, "weight_data": np.frombuffer(bytes(weight_data), dtype=np.uint8)}


def _activation_tanh(vela: dict[str, Any], operation: str) -> dict[str, Any]:
    """The activation before `operation` set to TANH, which Vela never emits and the model lacks."""
    cmd_data = vela["cmd_data"].tobytes()
    activation = _before(decode(cmd_data), operation, "NPU_SET_ACTIVATION")
    word = _word(cmd_data, activation.offset) & ~(0xFFF << 16) | 3 << 16
    return {**vela, "cmd_data": np.frombuffer(_set_word(cmd_data, activation.offset, word), dtype=np.uint8)}


def _coverage(run: Any) -> dict[str, Any]:
    return report.stream_coverage(run.records)[TARGET.name]


def test_a_clean_stream_agrees_exactly_and_passes_at_level_stream(run_lowered):
    run = run_lowered()
    record = by_executor(run)["stream"]
    assert record["outcome"] == "pass", run.summary()
    assert "vs_tosa" in record["checks"] and "vs_quantized" in record["checks"]
    assert (record["metrics"]["max_diff_vs_tosa"], record["metrics"]["values_differing_vs_tosa"]) == (0, 0)
    assert policy.judge(run.records, Expectation(), run.summary()).action == "pass"
    assert policy.verified_level(run.records) == "stream"
    assert _coverage(run) == {"with_delegate": 1, "agreed": 1, "mismatched": 0, "skipped": 0, "failed": 0,
                              "skip_reasons": []}


TAMPERS = {
    "round_mode": _round_mode_tfl,
    "ofm_zero_point": _param_plus_one("NPU_SET_OFM_ZERO_POINT"),
    "scale_shift": _one_shift_plus_one,
    "weight": _one_weight_moved,
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_a_tampered_stream_fails_at_compare_naming_the_delegate(run_lowered, tamper):
    run = run_lowered(lambda vela: TAMPERS[tamper](vela, OPERATION))
    records = by_executor(run)
    record = records["stream"]
    assert (record["outcome"], record["stage"]) == ("mismatch", "compare"), run.summary()
    found = [f for f in record["findings"] if f["check"] == "vs_tosa"]
    assert found, record["findings"]
    assert all(f["stage"] == "compare" for f in found)
    assert "delegate 0 (call 1), output 0: " in found[0]["message"]
    assert "values differ from the TOSA reference model, largest difference" in found[0]["message"]
    assert record["metrics"]["max_diff_vs_tosa"] >= 1 and record["metrics"]["values_differing_vs_tosa"] >= 1
    assert records["tosa_ref"]["outcome"] == "pass"  # the TOSA graph is right: the stream is what differs
    assert policy.judge(run.records, Expectation(), run.summary()).action == "fail"
    assert _coverage(run)["mismatched"] == 1


def test_a_known_stream_difference_is_an_xfail_within_its_ceiling_only(run_lowered):
    tamper = lambda vela: _round_mode_tfl(vela, OPERATION)  # noqa: E731 - moves a few values by one LSB
    known = KnownFailure("planted: Vela rounds once too often", executors=("stream",), checks=("vs_tosa",),
                         max={"max_diff_vs_tosa": 1})
    run = run_lowered(tamper, Expectation(xfail=(known,)))
    record = by_executor(run)["stream"]
    assert record["outcome"] == "xfail", run.summary()
    tighter = KnownFailure("planted", executors=("stream",), checks=("vs_tosa",), max={"max_diff_vs_tosa": 0})
    again = policy.judged({**record, "expected": ""}, Expectation(xfail=(tighter,)))
    assert again["outcome"] == "mismatch" and "beyond its known failure" in again["message"]


def test_a_mode_the_model_lacks_is_a_skip_naming_it(run_lowered):
    run = run_lowered(lambda vela: _activation_tanh(vela, OPERATION))
    record = by_executor(run)["stream"]
    assert record["outcome"] == "skip" and "the functional model lacks activation TANH" in record["message"]
    assert not record["findings"]
    assert policy.verified_level(run.records) == "tosa"  # not "stream": it never agreed
    assert _coverage(run)["skip_reasons"] == [["the functional model lacks activation TANH", 1]]


def test_a_target_without_a_functional_model_is_skipped_with_the_reason():
    from executors import EXECUTORS

    u65 = dataclasses.replace(TARGETS["ethos_u85_256"], name="ethos_u65_256", ethos_u_config="ethos-u65-256")
    availability = EXECUTORS["stream"].probe(u65)
    assert not availability.ok and "ethos-u65-256" in availability.reason
    assert EXECUTORS["stream"].probe(TARGETS["ethos_u85_256"]).ok
    assert not EXECUTORS["stream"].probe(TARGETS["tosa_int"]).ok


def test_the_fast_scratch_is_the_memory_modes_arena_cache():
    assert fast_scratch_bytes("Dedicated_Sram_384KB") == 384 * 1024  # vela.ini: arena_cache_size
    assert fast_scratch_bytes("Shared_Sram") == 0 and fast_scratch_bytes("no such mode") == 0


def test_a_u85_stream_runs_on_its_model_and_agrees_exactly(run_one):
    """Dispatch by the stream's config word, the fast scratch of Dedicated_Sram_384KB, the real lowering."""
    u85 = dataclasses.replace(TARGETS["ethos_u85_256"], executors=("quantized_eager", "tosa_ref", "stream"))
    run = run_one(CASE, u85)
    record = by_executor(run)["stream"]
    assert record["outcome"] == "pass", run.summary()
    assert (record["metrics"]["max_diff_vs_tosa"], record["metrics"]["values_differing_vs_tosa"]) == (0, 0)
    assert policy.verified_level(run.records) == "stream"


def test_the_coverage_counts_cases_with_a_delegate_by_what_the_stream_did():
    def record(outcome, target="ethos_u55_128", partitions=1, message="", checks=(), findings=()):
        return {"target": target, "level": "stream", "outcome": outcome, "message": message, "checks": list(checks),
                "findings": list(findings), "delegation": {"partitions": partitions}}

    differs = {"stage": "compare", "check": "vs_tosa", "message": "delegate 0 (call 1), output 0: 1 of 8 values differ"}
    records = [
        record("pass", checks=["vs_eager", "vs_tosa"]),
        record("mismatch", checks=["vs_eager", "vs_tosa"], findings=[differs]),
        record("mismatch", checks=["vs_eager", "vs_quantized", "vs_tosa"],  # off eager, equal to TOSA: agreed
               findings=[{"stage": "compare", "check": "vs_quantized", "message": "3 steps"}]),
        record("skip", message="the functional model lacks POOL MAX (delegate 0)"),
        record("skip", message="the functional model lacks POOL MAX (delegate 2)"),
        record("fail", message="delegate 0: the functional model rejects its stream: no NPU_OP_STOP"),
        record("skip", partitions=0, message="no delegate: there is no command stream to run"),
        {**record("pass", checks=["vs_tosa"]), "level": "tosa"},  # another executor
    ]
    assert report.stream_coverage(records) == {"ethos_u55_128": {
        "with_delegate": 6, "agreed": 2, "mismatched": 1, "skipped": 2, "failed": 1,
        "skip_reasons": [["the functional model lacks POOL MAX", 2]]}}
    assert report.stream_line(report.stream_coverage(records)["ethos_u55_128"]) == (
        "2 of 6 cases with a delegate agreed exactly with the TOSA reference model, 1 differed, 2 skipped "
        "(the functional model lacks POOL MAX: 2), 1 failed")


@pytest.mark.parametrize("arrays, said", [
    ([np.arange(6, dtype=np.int8)] * 2, "the delegate returned 2 outputs, its graph declares 1"),
    ([np.arange(5, dtype=np.int8)], "delegate output 0 has 5 elements, its graph declares torch.int8 [2, 3]"),
    ([np.arange(6, dtype=np.int32) * 100], "delegate output 0 is int32, its graph declares torch.int8: the cast changes values"),
])
def test_a_delegate_output_is_never_dropped_reshaped_or_cast_silently(arrays, said, monkeypatch):
    from etconform.stages import StageError
    from executors import tosa_ref

    monkeypatch.setattr(tosa_ref, "delegate_fakes", lambda module: [torch.empty(2, 3, dtype=torch.int8)])
    assert tosa_ref.delegate_outputs(None, [np.arange(6, dtype=np.int32)])[0].dtype == torch.int8  # a lossless cast is fine
    with pytest.raises(StageError, match=re.escape(said)):
        tosa_ref.delegate_outputs(None, arrays)
