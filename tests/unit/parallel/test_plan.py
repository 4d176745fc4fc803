import pytest

from trainperf.parallel import ParallelPlan, TransformerArch

LLAMA70 = TransformerArch(name="llama70", n_layers=80, hidden=8192, ffn_hidden=28672, n_heads=64, n_kv_heads=8,
                          vocab=128256)


def test_derived_sizes() -> None:
    p = ParallelPlan(gpus=1024, tp=8, pp=4, cp=2, mbs=1, gbs=512, seq=8192)
    assert p.dp == 16
    assert p.n_micro == 32
    assert p.tokens_per_step == 512 * 8192


@pytest.mark.parametrize(("kw", "msg"), [
    ({"gpus": 100, "tp": 8}, "gpus = 100 is not a multiple of tp\\*pp\\*cp"),
    ({"gpus": 64, "tp": 8, "mbs": 2, "gbs": 20}, "gbs = 20 is not a multiple of mbs\\*dp = 2\\*8 = 16"),
    ({"gpus": 8, "vp": 2}, "vp = 2 needs pp > 1"),
    ({"gpus": 16, "cp": 2, "seq": 1002, "gbs": 8}, "seq = 1002 must be a multiple of 2\\*cp = 4"),
    ({"gpus": 16, "tp": 1, "ep": 3, "gbs": 16}, "etp\\*ep = 1\\*3 must divide"),
    ({"gpus": 8, "precision": "int4"}, "precision 'int4'"),
    ({"gpus": 0}, "gpus = 0"),
])
def test_plan_validation_prints_the_numbers(kw: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        ParallelPlan(**{"gbs": 8, **kw})


def test_check_against_architecture() -> None:
    with pytest.raises(ValueError, match="tp = 3 does not divide n_heads = 64"):
        ParallelPlan(gpus=3, tp=3, gbs=1).check(LLAMA70)
    with pytest.raises(ValueError, match="exceed n_layers \\+ 2 = 82"):
        ParallelPlan(gpus=64, pp=32, vp=4, gbs=128).check(LLAMA70)
    with pytest.raises(ValueError, match="has no experts"):
        ParallelPlan(gpus=8, ep=8, gbs=8).check(LLAMA70)
    ParallelPlan(gpus=64, tp=8, pp=8, gbs=64).check(LLAMA70)  # fine


def test_plan_is_frozen() -> None:
    p = ParallelPlan(gpus=8, gbs=8)
    with pytest.raises(AttributeError):
        p.tp = 2  # type: ignore[misc]
