import json
from pathlib import Path

import pytest

from trainperf.profile import ProfileConfig, profile_workload


def test_profile_tiny_step_writes_a_kineto_trace(tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    res = profile_workload("llama3.1-8b", "tiny", cfg=ProfileConfig(steps=2, warmup=1), trace_path=out)
    assert len(res.step_times_s) == 2 and all(t > 0 for t in res.step_times_s)
    data = json.loads(out.read_text())
    names = {e.get("name", "") for e in data["traceEvents"]}
    assert any(n.startswith("ProfilerStep#") for n in names)
    assert "aten::mm" in names or "aten::addmm" in names
    # shapes are recorded, so the trace analyzer can compute speed of light
    assert any("Input Dims" in e.get("args", {}) for e in data["traceEvents"])


def test_full_size_that_does_not_fit_is_refused_with_numbers() -> None:
    with pytest.raises(ValueError, match=r"GiB of weights.*do not fit"):
        profile_workload("llama3.1-405b", "full", cfg=ProfileConfig())


def test_bad_config_values() -> None:
    with pytest.raises(ValueError, match="dtype 'int8'"):
        ProfileConfig(dtype="int8")
    with pytest.raises(ValueError, match="steps=0"):
        ProfileConfig(steps=0)
