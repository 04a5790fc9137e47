"""Reports, diff and merge, from records alone."""

import json
import re

import pytest

from etconform.__main__ import main
from etconform.analysis import report
from etconform.records import RECORDS
from tests.records import record as _record


@pytest.fixture
def run_records():
    return [
        _record("conv2d-3x3", "ethos_u55_128"),
        _record("conv2d-3x3", "ethos_u55_128", "info", "vela", estimate={"inference_time_ms": 0.02, "nn_macs": 100}),
        _record("conv2d-1x1", "ethos_u55_128"),
        _record("relu-4d", "ethos_u55_128", "mismatch", stage="compare", message="vs quantized eager: 3 steps > 1",
                findings=[{"stage": "compare", "check": "vs_quantized", "message": "vs quantized eager: 3 steps > 1"}],
                metrics={"sqnr_db": 10.0, "max_err_qsteps": 3.0}),
        _record("relu-4d", "xnnpack_fp32", executor="et_runtime",
                latency={"median_ms": 1.0, "cv": 0.01, "runs": 5, "eager_median_ms": 2.0}),
        _record("mobilenet_v2-224", "xnnpack_fp32", executor="et_runtime", kind="model", weights="random (seeded)",
                metrics={"cosine": 1.0, "sqnr_db": 120.0, "top1_agreement": 1.0},
                latency={"median_ms": 8.0, "cv": 0.02, "runs": 10, "eager_median_ms": 31.0}),
    ]


def _write(folder, records):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECORDS).write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_report_counts_and_marks_a_delegated_mismatch(run_records):
    built = report.build(run_records)
    assert built["totals"]["ethos_u55_128"] == {"pass": 2, "wrong_delegated": 1}
    assert built["operators"]["subjects"]["relu"]["ethos_u55_128"]["worst"] == "wrong_delegated"
    assert [p["case"] for p in built["problems"]] == ["relu-4d"]


def test_html_is_self_contained_with_matrix_and_plots(tmp_path, run_records):
    _write(tmp_path, run_records)
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Support matrix (operators)</h2>" in page
    assert page.count("data:image/png;base64,") >= 4  # outcomes, model accuracy, figure 1, operator accuracy
    assert {p.name for p in (tmp_path / "plots").iterdir()} >= {
        "outcomes.png", "accuracy.png", "figure1.png", "fragmentation.png", "model_accuracy.png"}
    assert "<td>mobilenet_v2-224</td><td>xnnpack_fp32</td><td>pass</td>" in page
    assert not re.search(r"(src|href)=[\"']https?://", page)
    # The red cell links to its case's details, which carry the numbers and the command that reproduces it.
    assert "<a href='#d-relu-4d_ethos_u55_128'>pass 0" not in page and "href='#d-relu-4d_ethos_u55_128'" in page
    details = page.split("id='d-relu-4d_ethos_u55_128'")[1].split("</details>")[0]
    assert "vs quantized eager: 3 steps &gt; 1" in details and "max_err_qsteps 3" in details
    assert "python -m etconform run relu-4d ethos_u55_128" in details
    md = (tmp_path / "report.md").read_text()
    assert "**WRONG (delegated) 1**" in md and "relu-4d" in md


def test_merge_of_two_shards_equals_the_whole(tmp_path, run_records):
    a, b = _write(tmp_path / "a", run_records[:2]), _write(tmp_path / "b", run_records[2:])
    out = tmp_path / "merged"
    assert main(["merge", str(a), str(b), "-o", str(out)]) == 0
    merged = [json.loads(line) for line in (out / RECORDS).read_text().splitlines()]
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    assert sorted(map(key, merged)) == sorted(map(key, run_records))
    assert (out / "report.html").exists() and (out / "support_matrix.md").exists()


def test_a_model_off_eager_but_matching_quantized_eager_is_not_blamed_on_the_delegate():
    from etconform.analysis import matrix

    base = _record("opt_125m-32_tokens", "ethos_u85_256", "mismatch", kind="model", stage="compare",
                   tolerance={"min_cosine_vs_quantized": 0.995})
    off_eager = [{"stage": "compare", "check": "vs_eager", "message": "cosine 0.986 < 0.99"}]
    quantization = {**base, "metrics": {"cosine": 0.986, "cosine_vs_quantized": 0.9994}, "findings": off_eager}
    lowering = {**base, "metrics": {"cosine": 0.97, "cosine_vs_quantized": 0.979},
                "findings": [*off_eager, {"stage": "compare", "check": "vs_quantized", "message": "cosine 0.979 < 0.995"}]}
    assert matrix.case_outcomes([quantization])[("opt_125m", "opt_125m-32_tokens", "ethos_u85_256")][0] == "mismatch"
    assert matrix.case_outcomes([lowering])[("opt_125m", "opt_125m-32_tokens", "ethos_u85_256")][0] == "wrong_delegated"


def test_fvp_cycles_and_device_latency_reach_the_model_table_and_latency_rows():
    model = {"kind": "model", "metrics": {"cosine": 0.99}}
    records = [
        _record("ds_cnn-kws", "ethos_u55_128", **model),
        _record("ds_cnn-kws", "ethos_u55_128", executor="fvp", estimate={"npu_cycles": 123456, "cpu_cycles": 200000}, **model),
        _record("ds_cnn-kws", "xnnpack_int8", executor="device", latency={"median_ms": 3.5, "runs": 10}, **model),
    ]
    built = report.build(records)
    rows = {r["target"]: r for r in built["models"]}
    assert rows["ethos_u55_128"]["fvp_npu_cycles"] == 123456 and rows["xnnpack_int8"]["device_ms"] == 3.5
    fvp = [r for r in built["latency"] if r["executor"] == "fvp"]
    assert fvp == [{"case": "ds_cnn-kws", "kind": "model", "target": "ethos_u55_128", "executor": "fvp", "cycles": 123456, "cpu_cycles": 200000}]
