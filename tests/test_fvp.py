"""The FVP executor against the stand-in (tests/standin/fvp_standin.py): the real FVP is not on this machine."""

import pytest
import torch

from etconform.cases import Case, randn
from etconform.targets import TARGETS, Target, ethos_u
from executors.fvp import CorstoneFVP
from tests.conftest import by_executor
from tests.standin import install_fvp


@pytest.fixture
def standin(tmp_path_factory, monkeypatch):
    bin_dir, arm_test = install_fvp(tmp_path_factory.mktemp("fvp"))
    monkeypatch.setenv("ETCONFORM_FVP_PATH", str(bin_dir))
    monkeypatch.setenv("ETCONFORM_ARM_RUNNER", str(arm_test))
    return bin_dir, arm_test


def _conv():
    return Case("selftest", "conv", lambda: torch.nn.Conv2d(3, 4, 3), lambda g: (randn(g, 1, 3, 8, 8),))


def test_without_an_fvp_or_a_runner_the_skip_says_what_to_get(standin, monkeypatch):
    fvp = CorstoneFVP()
    monkeypatch.setenv("ETCONFORM_FVP_PATH", "/nonexistent")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    reason = fvp.probe(TARGETS["ethos_u55_128"]).reason
    assert "FVP_Corstone_SSE-300_Ethos-U55 not on PATH" in reason and "setup.sh" in reason
    monkeypatch.setenv("ETCONFORM_FVP_PATH", str(standin[0]))
    monkeypatch.setenv("ETCONFORM_ARM_RUNNER", "/nonexistent")
    reason = fvp.probe(TARGETS["ethos_u85_256"]).reason
    assert "no arm_executor_runner ELF for corstone-320" in reason and "--target=ethos-u85-256" in reason
    assert fvp.probe(TARGETS["xnnpack_int8"]).reason == "the Corstone FVP runs Ethos-U programs only"


def test_an_fvp_run_is_compared_with_the_tosa_reference_model_and_counts_cycles(standin, run_one):
    records = by_executor(run_one(_conv(), "ethos_u85_256"))
    fvp = records["fvp"]
    assert fvp["outcome"] == "pass", fvp["message"]
    assert fvp["metrics"]["max_err_qsteps_vs_tosa_ref"] == 0.0 and fvp["metrics"]["max_err_qsteps"] <= 1
    assert fvp["estimate"]["npu_cycles"] > 1000 and fvp["estimate"]["npu_delegations"] == 1
    folder = run_one.results_dir / "artifacts" / "ethos_u85_256" / "selftest-conv" / "fvp"
    command = (folder / "command.txt").read_text()
    assert command.startswith(str(standin[0] / "FVP_Corstone_SSE-320"))
    assert "mps4_board.subsystem.ethosu.num_macs=256" in command and f"semihosting-cwd={folder}" in command
    assert "cmd_line='executor_runner -m program.pte -o out -i i0.bin'" in command
    assert (folder / "out-0.bin").stat().st_size == 4 * 4 * 6 * 6  # float32, 1x4x6x6


def test_the_board_follows_the_npu(standin, run_one):
    u65 = Target("ethos_u65_256", "ethos_u", True, ethos_u("ethos-u65-256", "Ethos_U65_High_End", "Dedicated_Sram"),
                 ("quantized_eager", "tosa_ref", "fvp"), "ethos-u65-256")
    for target, binary, macs in ((u65, "FVP_Corstone_SSE-300_Ethos-U65", "256"), (TARGETS["ethos_u55_128"], "FVP_Corstone_SSE-300_Ethos-U55", "128")):
        records = by_executor(run_one(_conv(), target))
        assert records["fvp"]["outcome"] == "pass", records["fvp"]["message"]
        command = (run_one.results_dir / "artifacts" / target.name / "selftest-conv" / "fvp" / "command.txt").read_text()
        assert binary in command and f" -C ethosu.num_macs={macs} " in command and "mps3_board.uart0" in command


@pytest.mark.parametrize(
    ("fault", "outcome", "words"),
    [
        ("hardfault", "fail", "Hard fault"),
        ("perturb", "mismatch", "vs tosa_ref:"),
        ("hang", "fail", "left no usable output"),
    ],
)
def test_a_misbehaving_fvp_fails_at_run_or_mismatches(standin, run_one, monkeypatch, fault, outcome, words):
    monkeypatch.setenv("FVP_STANDIN_FAULT", fault)
    monkeypatch.setenv("ETCONFORM_FVP_TIMEOUT", "1")
    fvp = by_executor(run_one(_conv(), "ethos_u55_128"))["fvp"]
    assert fvp["outcome"] == outcome and words in fvp["message"], fvp["message"]
    assert fvp["stage"] == ("compare" if outcome == "mismatch" else "run")


def test_an_error_line_from_the_runner_fails_the_run(standin, run_one):
    # Without the TOSA reference model's outputs the stand-in's runner logs an error, as a failing runner does.
    target = TARGETS["ethos_u55_128"]
    no_tosa = Target("ethos_u55_fvp_only", "ethos_u", True, target.make, ("fvp",), target.ethos_u_config)
    fvp = by_executor(run_one(_conv(), no_tosa))["fvp"]
    assert (fvp["outcome"], fvp["stage"]) == ("fail", "run")
    assert "1 error lines: E [executorch:" in fvp["message"] and "no TOSA reference outputs" in fvp["message"]


def test_an_output_file_beyond_the_programs_outputs_fails_the_read(tmp_path):
    """A runner that writes one output more than the program declares: the extra one is an output too."""
    from executors import files

    specs = [(torch.int8, (2,))]
    (tmp_path / "out-0.bin").write_bytes(b"\x01\x02")
    assert files.read_outputs(tmp_path, specs)[0].tolist() == [1, 2]
    (tmp_path / "out-1.bin").write_bytes(b"\x03")
    with pytest.raises(ValueError, match="1 outputs expected, but the runner also wrote out-1.bin"):
        files.read_outputs(tmp_path, specs)
