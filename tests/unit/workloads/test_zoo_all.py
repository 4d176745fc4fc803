"""Every registered workload, through the registry and through capture (tiny flavor on fake tensors,
and the full flavor's FLOPs against the workload's published reference)."""

import polars as pl
import pytest
from zoo_helpers import check_reduced_map, count_params, meta_model

from trainperf.capture import capture_workload
from trainperf.vocab import Domain
from trainperf.workloads import get_workload, list_workloads
from trainperf.workloads.registry import UnknownWorkloadError

ALL = [w.name for w in list_workloads()]
# Sliding-window models: model FLOPs count windowed layers at the window, but transformers runs them as
# a masked full-length product, so the captured (executed) FLOPs are larger by design.
WITH_REFERENCE_FLOPS = [w.name for w in list_workloads()
                        if w.train_flops_per_unit and w.fake_ok and "sliding-window" not in w.tags]


def test_zoo_is_large_and_diverse() -> None:
    ws = list_workloads()
    assert len(ws) >= 30, f"only {len(ws)} workloads"
    domains = {w.domain for w in ws}
    for d in (Domain.LLM, Domain.MOE, Domain.ENCODER, Domain.ENCDEC, Domain.SPEECH, Domain.VISION, Domain.CNN,
              Domain.DIFFUSION, Domain.RECSYS, Domain.GNN):
        assert d in domains, f"no {d.value} workload"


def test_unknown_name_gets_closest_matches() -> None:
    with pytest.raises(UnknownWorkloadError, match="did you mean"):
        get_workload("llama-3.1-8b")


@pytest.mark.parametrize("name", ALL)
def test_full_size_params_match_published(name: str) -> None:
    w = get_workload(name)
    _, model = meta_model(name)
    n = count_params(model)
    assert w.published_params and w.published_params_source, f"{name}: no published parameter count"
    assert n == pytest.approx(w.published_params, rel=w.params_tolerance), (
        f"{name}: built {n:,} vs published {w.published_params:,.0f} ({w.published_params_source})")


@pytest.mark.parametrize("name", [w.name for w in list_workloads() if w.supports_reduced])
def test_reduced_build_expands_to_full_model(name: str) -> None:
    check_reduced_map(name)


@pytest.mark.parametrize("name", ALL)
def test_tiny_capture(name: str) -> None:
    w = get_workload(name)
    g = capture_workload(name, "tiny", dtype="bf16" if w.fake_ok else "fp32", real=not w.fake_ok)
    ops = g.ops
    assert ops.height > 0
    assert set(ops["phase"].unique()) >= {"fwd", "bwd", "optimizer"}
    total = max(float(ops["flops"].sum()), 1.0)
    assert total > 0
    # every op that launches work has a formula (the zoo's uncovered share is driven to zero)
    uncovered = ops.filter(~pl.col("covered"))["op"].unique().to_list()
    assert not uncovered, f"uncovered ops in {name}: {uncovered}"
    assert g.meta.n_params > 0 and g.meta.param_bytes > 0 and g.meta.optimizer_state_bytes > 0


@pytest.mark.parametrize("name", WITH_REFERENCE_FLOPS)
def test_full_size_flops_match_reference(name: str) -> None:
    """Captured fwd+bwd FLOPs per unit vs the workload's cited reference: 2% for decoder LLMs (6·N +
    attention), 5% otherwise (published multiply-adds x 6 for CNNs and ViTs, analytic counts elsewhere).
    Transformer references count matmul and attention math only (glossary: model FLOPs); CNN references
    come from op-level profilers that also count batch norm and activations (fvcore, TF profiler), so
    CNNs are compared with all their forward and backward ops."""
    w = get_workload(name)
    g = capture_workload(name, "full")
    ops = g.ops.filter(pl.col("phase") != "optimizer")
    if w.domain != Domain.CNN:
        ops = ops.filter(pl.col("category").is_in(["matmul", "attention", "conv"]))
    fwd_bwd = float(ops["flops"].sum())
    units = g.meta.tokens_per_step if g.meta.unit == "token" else g.meta.samples_per_step
    per_unit = fwd_bwd / units
    tol = 0.02 if w.domain in (Domain.LLM, Domain.MOE) else 0.05
    assert per_unit == pytest.approx(w.train_flops_per_unit, rel=tol), (
        f"{name}: captured {per_unit:.4g} FLOPs/{g.meta.unit} vs reference {w.train_flops_per_unit:.4g} "
        f"({w.train_flops_source})")


# EfficientNet-B4 as transformers builds it has 3.99 G conv+linear multiply-adds at 380² against the
# paper's 4.2 G (-5%, parameters match to 0.01%): an open discrepancy, pinned so that a fix is noticed.
_KNOWN_GAP = {"efficientnet-b4": "transformers' EfficientNet-B4 counts 5% fewer MACs than Tan & Le 2019"}
CNN_WITH_REFERENCE = [
    pytest.param(w.name, marks=pytest.mark.xfail(strict=True, reason=_KNOWN_GAP[w.name])) if w.name in _KNOWN_GAP
    else w.name
    for w in list_workloads() if w.domain == Domain.CNN and w.train_flops_per_unit
]


@pytest.mark.parametrize("name", CNN_WITH_REFERENCE)
def test_cnn_forward_flops_within_5pct_of_published_macs(name: str) -> None:
    """Forward conv + linear FLOPs vs published multiply-adds x 2 (MAC counts cover conv and fully
    connected layers; the workload's reference is MACs x 2 x 3 for fwd+bwd)."""
    w = get_workload(name)
    g = capture_workload(name, "full")
    fwd = g.ops.filter((pl.col("phase") == "fwd") & pl.col("category").is_in(["conv", "matmul"]))
    per_sample = float(fwd["flops"].sum()) / g.meta.samples_per_step
    assert w.train_flops_per_unit is not None
    assert per_sample == pytest.approx(w.train_flops_per_unit / 3, rel=0.05), w.train_flops_source


def test_llama3_names_resolve_to_the_same_architecture() -> None:
    from trainperf.workloads.registry import ALIASES

    for alias, name in ALIASES.items():
        assert get_workload(alias) is get_workload(name)
        assert alias not in {w.name for w in list_workloads()}  # an alias never shadows a registered name
