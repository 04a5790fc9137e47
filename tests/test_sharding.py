"""Two CI shards (pytest-split), merged with `etconform merge`, give the records of one run."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Seven tests, so that each shard gets some (every run here costs a pytest start and the lowerings).
SELECT = ["suites/xnnpack", "-m", "operator and not dynamic", "-k",
          "xnnpack_fp32 and (relu-4d or relu-rank1_edges or abs-) and not ranks_file"]
# What differs between two honest runs of one case: wall times, paths, where parts came from.
VOLATILE = {"seconds", "latency", "lowering_seconds", "cache", "artifacts", "test_id", "message", "detail"}


def _pytest(results: Path, *extra: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *SELECT, "--no-cache",
                           "--results-dir", str(results), *extra], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _records(folder: Path) -> dict:
    out = {}
    for line in (folder / "records.jsonl").read_text().splitlines():
        r = json.loads(line)
        out[(r["case"], r["target"], r["executor"])] = {k: v for k, v in r.items() if k not in VOLATILE}
    return out


def test_two_merged_shards_give_the_records_of_one_run(tmp_path):
    _pytest(tmp_path / "whole")
    for group in ("1", "2"):
        _pytest(tmp_path / f"shard{group}", "--splits", "2", "--group", group)
    shards = [_records(tmp_path / f"shard{g}") for g in ("1", "2")]
    assert shards[0] and shards[1] and not set(shards[0]) & set(shards[1])  # each test in one shard only
    done = subprocess.run([sys.executable, "-m", "etconform", "merge", str(tmp_path / "shard1"), str(tmp_path / "shard2"),
                           "-o", str(tmp_path / "merged")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    whole, merged = _records(tmp_path / "whole"), _records(tmp_path / "merged")
    assert len(whole) >= 6 and merged == whole
    assert (tmp_path / "merged" / "report.html").exists()
