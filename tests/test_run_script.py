"""`./run suite`: the Ethos-U suite unless a path under suites/ is named; plugins import from the checkout."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _collected(*args: str, env: dict[str, str] | None = None) -> list[str]:
    if not (REPO / ".venv" / ".etconform-setup").exists():
        pytest.skip("no venv set up in this checkout: ./run setup makes it (CI's ./run selftest does)")
    done = subprocess.run(["./run", "suite", "-n", "0", "--collect-only", "-q", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_run_suite_collects_the_ethos_u_suite_or_the_suites_path_it_is_given():
    # A plugin of the checkout (a planted fault's) imports: python -m pytest puts the checkout on sys.path.
    ethos = _collected("-m", "smoke and operator and tosa_fp", "-k", "relu-", "-p", "tests.faults.planted",
                       env={"ETCONFORM_PLANT": "coarse3x"})
    assert ethos and all(t.startswith("suites/ethos_u/") for t in ethos)
    node = "suites/xnnpack/test_operators.py::test_operator[relu-4d-xnnpack_fp32]"
    assert _collected(node) == [node]  # a path under suites/ replaces suites/ethos_u
