"""python -m tests.standin DIR: install the FVP stand-in into DIR and print the options to use it."""

import sys
from pathlib import Path

from tests.standin import install_fvp

bin_dir, arm_test = install_fvp(Path(sys.argv[1] if len(sys.argv) > 1 else "fvp-standin").resolve())
print(f"--fvp-path {bin_dir} --arm-runner {arm_test}")
