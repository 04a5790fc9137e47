"""Model Explorer node data: node ids as the PTE adapter makes them, placement and error per node."""

import json

import torch

from etconform.analysis import explorer
from etconform.cases import Case, randn


class _Fragmented(torch.nn.Module):
    """conv (delegated) -> avg_pool3d via LRN-like op (not on TOSA: CPU) -> conv (delegated)."""

    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 4, 1)

    def forward(self, x):
        y = self.a(x)
        y = torch.nn.functional.avg_pool3d(y.unsqueeze(1), (3, 1, 1), stride=1, padding=(1, 0, 0)).squeeze(1)
        return self.b(y)


def _model():
    return Case("selftest_net", "tiny", _Fragmented, lambda g: (randn(g, 1, 3, 8, 8),), kind="model", samples=2)


def test_a_fragmented_model_gets_placement_and_error_files_next_to_its_pte(run_one):
    run = run_one(_model(), "ethos_u55_128")
    tosa = next(r for r in run.records if r["executor"] == "tosa_ref")
    assert tosa["delegation"]["partitions"] == 2, tosa["delegation"]
    folder = run_one.results_dir / "artifacts" / "ethos_u55_128" / "selftest_net-tiny"
    assert tosa["artifacts"]["explorer"] == "artifacts/ethos_u55_128/selftest_net-tiny/program.placement.json"
    placement = json.loads((folder / "program.placement.json").read_text())["forward"]["results"]
    values = [v["value"] for _, v in sorted(placement.items(), key=lambda kv: int(kv[0].rsplit("_", 1)[1]))]
    assert values.count("EthosUBackend #0") == 1 and values.count("EthosUBackend #1") == 1
    assert any(v.startswith("CPU: aten::avg_pool3d") for v in values), values
    assert all(node.startswith("forward_0_") for node in placement)
    assert placement[next(k for k, v in placement.items() if v["value"] == "EthosUBackend #0")]["bgColor"] == "#2ca02c"
    error = json.loads((folder / "program.error.json").read_text())["forward"]
    assert set(error["results"]) == {k for k, v in placement.items() if v["value"].startswith("EthosUBackend")}
    assert error["results"][next(iter(error["results"]))]["value"] == tosa["metrics"]["sqnr_db"]
    assert error["thresholds"][0] == {"value": 10, "bgColor": "#d62728"}


def test_node_ids_follow_the_pte_adapter(run_one):
    run_one(Case("selftest", "relu", lambda: torch.nn.ReLU(), lambda g: (randn(g, 1, 8),)), "xnnpack_int8")
    pte = (run_one.results_dir / "artifacts" / "xnnpack_int8" / "selftest-relu" / "program.pte").read_bytes()
    found = explorer.instructions(pte)
    # The PTE adapter names instruction k of chain c in plan P "P_c_k" (pte_adapter_model_explorer builder).
    assert [node for _, node, _ in found] == [f"forward_0_{k}" for k in range(len(found))]
    assert "XnnpackBackend #0" in [where for _, _, where in found]
