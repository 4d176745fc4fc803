from pathlib import Path

import pytest

from trainperf.hardware.cluster import get_cluster, list_clusters, load_cluster
from trainperf.validation.published import Unsupported, measured_tokens, row_setup


def test_bundled_clusters() -> None:
    names = {c.name for c in list_clusters()}
    assert {"dgx-a100", "dgx-h100", "dgx-b200", "gb200-nvl72", "gb300-nvl72", "a100-roce-1600"} <= names
    assert get_cluster("gb200").nvlink_domain == 72
    assert get_cluster("dgx-h100").tiers[1].bw_GBps == 50.0
    with pytest.raises(KeyError, match="closest"):
        get_cluster("dgx-h1000")


def test_user_cluster_file(tmp_path: Path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text('name = "mine"\ngpu = "H200"\ngpus_per_node = 8\nsource = "my lab"\n'
                 '[[tier]]\nname = "nvlink"\ndomain_gpus = 8\nbw_GBps = 450\nlink = "nvlink"\n'
                 '[[tier]]\nname = "ib"\ndomain_gpus = 0\nbw_GBps = 25\nlink = "net"\n')
    c = get_cluster(str(f))
    assert c.gpu.name == "H200" and c.tiers[1].bw_GBps == 25
    f.write_text(f.read_text().replace("bw_GBps = 25", "bw_GBps = -1"))
    with pytest.raises(ValueError, match=r"bw_GBps = -1\.0 must be > 0"):
        load_cluster(f)


ROW = {"id": "mbridge-999", "model_name": "Llama-3-70B", "arch": "dense_decoder", "n_params_b": "70.6",
       "n_layers": "80", "hidden": "8192", "ffn_hidden": "28672", "n_heads": "64", "n_kv_heads": "8",
       "vocab": "128256", "seq_len": "8192", "global_batch_seqs": "128", "micro_batch": "1",
       "gpu_type": "H100-SXM5-80GB (DGX-H100)", "n_gpus": "64", "tp": "4", "pp": "8", "dp": "2", "cp": "1",
       "vp": "5", "zero_or_fsdp": "ddp (distributed optimizer not stated)", "recompute": "", "precision": "fp8_cs",
       "measured_tokens_per_s_per_gpu": "1602", "notes": ""}


def test_row_setup_reads_the_columns() -> None:
    s = row_setup(ROW)
    assert s.cluster.name == "dgx-h100" and s.cluster.gpu.name == "H100-SXM"
    assert (s.plan.tp, s.plan.pp, s.plan.dp, s.plan.vp, s.plan.n_micro) == (4, 8, 2, 5, 64)
    assert s.plan.precision == "fp8" and s.plan.sharding.value == "zero1" and not s.recompute_given
    assert s.arch.gated_mlp and s.arch.n_params() / 1e9 == pytest.approx(70.6, rel=1e-2)
    gb = row_setup({**ROW, "gpu_type": "GB200 (DGX-GB200 NVL72)", "precision": "nvfp4"})
    assert gb.cluster.name == "gb200-nvl72" and gb.plan.precision == "fp4"


def test_unsupported_rows_say_why() -> None:
    with pytest.raises(Unsupported, match="active-parameter"):
        row_setup({**ROW, "model_name": "Nemotron-3-Super", "arch": "hybrid_mamba_moe", "n_layers": "",
                   "hidden": "", "n_heads": ""})


def test_measured_tokens_from_sc21_convention() -> None:
    row = {"id": "megatron_sc21-001", "seq_len": "2048", "measured_tflops_per_gpu": "137",
           "measured_tokens_per_s_per_gpu": ""}
    from trainperf.parallel.arch import TransformerArch

    a = TransformerArch(name="gpt1.7", n_layers=24, hidden=2304, ffn_hidden=9216, n_heads=24, n_kv_heads=24,
                        vocab=51200, gated_mlp=False)
    v, how = measured_tokens(row, a)
    per_token = 96 * 24 * 2304**2 * (1 + 2048 / (6 * 2304) + 51200 / (16 * 24 * 2304))
    assert v == pytest.approx(137e12 / per_token) and "SC21" in how


def test_megatron_bridge_moe_recipes_follow_release_and_gpu() -> None:
    from trainperf.validation.published import container_release, moe_recipe

    assert container_release("release: 26.06.01 NeMo Container; x") == (26, 6, 1)
    assert container_release("release: 25.09 NeMo Container") == (25, 9, 0)
    assert container_release("no release") is None
    gb200, b200, h100 = "GB200 (DGX-GB200 NVL72)", "B200 (DGX-B200)", "H100-SXM5-80GB (DGX-H100)"
    rel = "release: {} NeMo Container"
    assert moe_recipe("mbridge", rel.format("26.06"), gb200, "Qwen3-30B-A3B", "mxfp8") == ("hierarchical", True)
    assert moe_recipe("mbridge", rel.format("26.04.01"), gb200, "Qwen3-30B-A3B", "mxfp8") == ("hierarchical", False)
    assert moe_recipe("mbridge", rel.format("26.06"), b200, "Qwen3-30B-A3B", "mxfp8") == ("hierarchical", False)
    assert moe_recipe("mbridge", rel.format("26.06.01"), b200, "Qwen3-30B-A3B", "mxfp8") == ("hierarchical", True)
    assert moe_recipe("mbridge", rel.format("26.04"), h100, "Qwen3-235B-A22B", "fp8") == ("alltoall", False)
    assert moe_recipe("mbridge", rel.format("26.06"), gb200, "GPT-OSS-120B", "bf16") == ("alltoall", False)
    assert moe_recipe("mbridge", rel.format("26.06"), gb200, "GPT-OSS-120B", "mxfp8") == ("hierarchical", True)
    assert moe_recipe("torchtitan", rel.format("26.06"), gb200, "Qwen3-30B-A3B", "bf16") == ("alltoall", False)
