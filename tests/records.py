"""One factory of records for the self-tests that judge records without running anything: report,
diff, qualify, first screen. A record has the fields etconform.records.new_record gives it; the
role and level are its executor's, the seed its case's for the run's base seed."""

from typing import Any

from etconform.cases import mixed_seed
from etconform.targets import TARGETS
from executors import EXECUTORS


def record(case: str, target: str, outcome: str = "pass", executor: str = "tosa_ref", *, base_seed: int = 0,
           **extra: Any) -> dict[str, Any]:
    """A record of `case` on `target` by `executor`: by default an operator that passed, fully delegated,
    40 dB from eager. `extra` replaces any field."""
    kind = EXECUTORS.get(executor)
    known = TARGETS.get(target)
    subject = case.rsplit("-", 1)[0] if extra.get("kind") == "model" else case.split("-")[0]
    base = {
        "case": case, "kind": "operator", "subject": subject, "variant": case.removeprefix(subject + "-"),
        "target": target, "backend": getattr(known, "backend", ""), "executor": executor,
        "role": getattr(kind, "role", "other"), "level": getattr(kind, "level", ""),
        "seed": mixed_seed(case, base_seed), "test_id": "", "outcome": outcome,
        "checks": ["vs_eager", "vs_quantized"], "findings": [], "stage": None, "message": "", "versions": {"torch": "2.14.1"},
        "metrics": {"sqnr_db": 40.0, "max_err_qsteps": 0.0}, "tolerance": {"qtol_steps": 1.0},
        "delegation": {"delegated_nodes": 5, "total_nodes": 8, "partitions": 1, "undelegated_ops": {}},
        "latency": {},
    }
    return {**base, **extra}
