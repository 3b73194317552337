"""A stage's completion marker records the job's wall seconds and device (its cost)."""

import json
import time

from experiments import stages
from experiments.plan import Job


def test_the_marker_records_seconds_and_device(tmp_path, monkeypatch):
    def slow_pool(job):
        time.sleep(0.2)
        return {"made": True}

    monkeypatch.setitem(stages.RUNNERS, "pool", slow_pool)
    job = Job("pool", "k" * 64, str(tmp_path / "store" / "worlds" / "w"), (), {}, "a run")
    done = stages.execute(job)
    marker = json.loads((tmp_path / "store" / "worlds" / "w" / stages.MARKER).read_text())
    assert marker == done
    assert 0.2 <= marker["seconds"] < 5 and marker["device"] == "cpu"
    assert marker["summary"] == {"made": True} and stages.is_done(job)
