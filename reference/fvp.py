"""Corstone FVP: probe only for now; a missing FVP is a skip that says how to get one."""

from __future__ import annotations

import shutil

from reference.base import Availability, ExecResult

FVP_BINARIES = {"ethos-u55": "FVP_Corstone_SSE-300_Ethos-U55", "ethos-u85": "FVP_Corstone_SSE-320"}


class CorstoneFVP:
    name = "fvp"
    compares = True

    def probe(self, target) -> Availability:  # noqa: ANN001
        if target.backend != "ethos_u":
            return Availability(False, "the Corstone FVP runs Ethos-U programs only")
        binary = FVP_BINARIES[target.ethos_u_config.rsplit("-", 1)[0]]
        if shutil.which(binary) is None:
            return Availability(
                False,
                f"{binary} not on PATH: install Arm's Corstone FVP (ExecuTorch's "
                "examples/arm/setup.sh --i-agree-to-the-contained-eula) and put it on PATH",
            )
        return Availability(False, f"{binary} found, but the FVP executor is not implemented yet")

    def run(self, lowered, inputs, timing=(1, 5)) -> ExecResult:  # noqa: ANN001
        raise NotImplementedError("the FVP executor is not implemented yet")
