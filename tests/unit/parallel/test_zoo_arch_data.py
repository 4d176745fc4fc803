"""The shipped zoo architecture table: read without torch, equal to what the real configs give."""

import subprocess
import sys

import pytest

from trainperf.parallel.zoo_arch import DATA, arch_from_workload, build_arch, load_table, main, render_table


def test_table_answers_without_torch() -> None:
    code = ("import sys; from trainperf.parallel.api import plan_from_args; "
            "r = plan_from_args('llama3.1-405b', gpus=16384, tp=8, pp=16, gbs=2048); "
            "print(r.arch.n_layers, 'torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["126", "False", "False"]


def test_known_architectures() -> None:
    a = arch_from_workload("llama3.1-405b")  # Llama 3 herd paper, table 3
    assert (a.n_layers, a.hidden, a.ffn_hidden, a.n_heads, a.n_kv_heads, a.vocab) == (126, 16384, 53248, 128, 8, 128256)
    ds = arch_from_workload("deepseek-v3-671b")  # DeepSeek-V3 config: 61 layers, first_k_dense_replace = 3
    assert (ds.n_layers, ds.dense_layers, ds.moe_experts, ds.moe_topk) == (61, 3, 256, 8)
    assert abs(ds.n_params() / 671e9 - 1) < 0.03
    assert load_table()["gpt2-124m"].max_seq == 1024 and load_table()["llama3.1-8b"].max_seq == 0
    with pytest.raises(ValueError, match="softmax-attention decoders only"):
        arch_from_workload("mamba2-2.7b")


@pytest.mark.parametrize("name", ["gpt2-124m", "llama3.1-405b", "deepseek-v3-671b"])
def test_entries_match_the_real_configs(name: str) -> None:
    # rebuilds the workload with torch + transformers on the meta device: the table cannot drift
    assert build_arch(name) == load_table()[name]


def test_render_round_trips(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "t.toml"
    f.write_text(render_table(list(load_table().values())))
    load_table.cache_clear()
    try:
        assert load_table(f) == load_table(DATA)
    finally:
        load_table.cache_clear()


@pytest.mark.slow
def test_whole_table_is_up_to_date() -> None:
    assert main(["--check"]) == 0
