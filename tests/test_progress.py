"""The run's estimate and progress lines: from earlier durations, at this run's pace."""

import json

from etconform.plugin.progress import Progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_estimate_comes_from_earlier_durations_and_a_new_test_counts_at_their_median(tmp_path):
    store = tmp_path / "durations.json"
    store.write_text(json.dumps({"a": 10.0, "b": 20.0, "c": 60.0}))
    said = Progress(2, store).plan(["a", "b", "c", "new"])
    # 10 + 20 + 60 + 20 (the median) over two workers: 55 s
    assert said == "etconform: 4 tests, about 55 s with 2 workers (earlier runs' durations for 3, 1 new at 20 s each)"


def test_the_time_left_follows_this_runs_pace(tmp_path):
    store = tmp_path / "durations.json"
    store.write_text(json.dumps({f"t{i}": 600.0 for i in range(10)}))  # a cold run remembered: 10 min a test
    clock = Clock()
    progress = Progress(1, store, every_s=120, clock=clock)
    progress.plan([f"t{i}" for i in range(10)])
    assert progress.finished("t0") == ""  # the first line waits for every_s
    clock.now = 150.0  # this run is warm: two tests in 150 s, an eighth of the remembered time
    progress.timed("t1", 0.1, failed=True)
    line = progress.finished("t1")
    # 8 tests left at 600 s, at 150 / 1200 of the remembered pace: 600 s
    assert line == "etconform: 2 of 10 tests done (20 %), 1 failed, 2 min in, about 10 min left"
    clock.now = 200.0
    assert progress.finished("t2") == ""  # not again before every_s


def test_a_runs_durations_replace_the_earlier_ones_and_keep_the_rest(tmp_path):
    store = tmp_path / "durations.json"
    store.write_text(json.dumps({"a": 10.0, "b": 20.0}))
    progress = Progress(1, store)
    progress.plan(["a"])
    progress.timed("a", 1.0)
    progress.timed("a", 2.5)  # setup, then call
    progress.save()
    assert json.loads(store.read_text()) == {"a": 3.5, "b": 20.0}


def test_an_unreadable_store_is_no_estimate_but_no_error_and_the_time_left_follows_the_runs_pace(tmp_path):
    store = tmp_path / "durations.json"
    store.write_text("{not json")
    clock = Clock()
    progress = Progress(2, store, every_s=60, clock=clock)
    assert progress.plan([f"t{i}" for i in range(8)]) == (
        "etconform: 8 tests; no earlier run timed them: the time left comes once some have run")
    progress.finished("t0")
    clock.now = 120.0
    # two done in 2 min: six more at that pace
    assert progress.finished("t1").endswith("2 min in, about 6 min left")
