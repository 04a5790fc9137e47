"""Runs one TOSA graph on the TOSA reference model, in its own process.

The reference model can abort the whole process on bad input; here that kills only
this process. Usage: python executors/tosa_worker.py IN.npz OUT.npz
IN holds `tosa` (uint8 bytes), `kwargs` (JSON) and input_0..input_N.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def main(in_path: str, out_path: str) -> int:
    import tosa_reference_model

    with np.load(in_path, allow_pickle=False) as data:
        tosa = data["tosa"].tobytes()
        kwargs = json.loads(str(data["kwargs"]))
        inputs = [data[f"input_{i}"] for i in range(int(data["n_inputs"]))]
    outputs, status = tosa_reference_model.run(tosa, inputs, **kwargs)
    np.savez(
        out_path,
        status=str(status.name if hasattr(status, "name") else status),
        n_outputs=len(outputs),
        **{f"output_{i}": np.asarray(o) for i, o in enumerate(outputs)},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
