"""Faults planted in the system under test for whole runs: `-p tests.faults.planted` with ETCONFORM_PLANT=NAME.

Each changes ExecuTorch, torchao or the TOSA tools as they are imported into the run
(workers included), never the suite: what the oracle must catch (docs/reference/oracle.md).
"""

from __future__ import annotations

import os

from tests.faults import sut

FAULTS = {
    "levels32": lambda: sut.narrow(setattr, input_activation=(-16, 15), output_activation=(-16, 15)),
    "weights4bit": lambda: sut.narrow(setattr, weight=(-7, 7)),
    "clip_quarter": lambda: sut.steps(setattr, 0.25),
    "coarse3x": lambda: sut.steps(setattr, 3.0),
    "tosa_off_by_one": lambda: sut.tosa_off_by_one(setattr),
    "lut_one_entry": lambda: sut.lut_one_entry(setattr),
    "partitioner_segfault": lambda: sut.partitioner_segfault(setattr),
}

FAULTS[os.environ["ETCONFORM_PLANT"]]()
