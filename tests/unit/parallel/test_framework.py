"""Framework presets (parallel/framework.py): one definition for `plan --framework` and the published runs."""

import pytest

from trainperf.parallel.api import plan_from_args
from trainperf.parallel.framework import PRESETS, Framework, preset
from trainperf.parallel.plan import Sharding
from trainperf.validation.published import row_framework


@pytest.mark.parametrize("fw", list(Framework))
def test_every_framework_has_a_cited_preset(fw: Framework) -> None:
    p = PRESETS[fw]
    assert p.source and p.attention in ("flash2", "cudnn")
    fields = p.plan_fields(pp=4)
    req = plan_from_args("llama3.1-8b", gpus=8, gbs=8, framework=fw.value)
    assert {k: getattr(req.plan, k) for k in fields if k != "reshard_per_microbatch"} == \
        {k: v for k, v in fields.items() if k != "reshard_per_microbatch"}
    assert req.plan.sharding == p.sharding


def test_flags_given_win_over_the_framework() -> None:
    req = plan_from_args("llama3.1-8b", gpus=8, gbs=8, framework="megatron-core", attention="flash2",
                         tp_overlap=False, zero="zero2")
    assert (req.plan.attention, req.plan.tp_comm_overlap, req.plan.sharding) == ("flash2", False, Sharding.ZERO2)
    assert req.plan.fused_cross_entropy  # not given: the framework's
    plain = plan_from_args("llama3.1-8b", gpus=8, gbs=8)  # no framework: the defaults as before
    assert (plain.plan.attention, plain.plan.tp_comm_overlap, plain.plan.fused_kernels) == ("flash2", True, True)


def test_torchtitan_keeps_fsdp_stages_unsharded_under_pipelining() -> None:
    assert preset("torchtitan").plan_fields(pp=2)["reshard_per_microbatch"] is False
    assert preset("torchtitan").plan_fields(pp=1)["reshard_per_microbatch"] is True


def test_published_families_map_to_their_stacks() -> None:
    assert row_framework("mbridge", "") is Framework.MEGATRON_CORE
    assert row_framework("foundry", "fsdp_full_shard(zero3)") is Framework.LLM_FOUNDRY
    assert row_framework("megatron_sc21", "DeepSpeed ZeRO-3") is Framework.MEGATRON_DEEPSPEED


def test_unknown_framework_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="--framework 'nemo': choose one of megatron-core"):
        plan_from_args("llama3.1-8b", gpus=8, gbs=8, framework="nemo")
