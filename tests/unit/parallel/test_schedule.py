import pytest

from trainperf.parallel.schedule import bubble_fraction, pipeline_time


@pytest.mark.parametrize(("m", "p"), [(1, 1), (8, 4), (16, 16), (64, 8)])
def test_1f1b_bubble_closed_form(m: int, p: int) -> None:
    assert bubble_fraction(m, p) == pytest.approx((p - 1) / (m + p - 1))
    step, bubble = pipeline_time(1.0, 2.0, m, p)
    assert step == pytest.approx((m + p - 1) * 3.0)
    assert bubble / step == pytest.approx((p - 1) / (m + p - 1))


def test_interleaving_divides_the_bubble() -> None:
    _, b1 = pipeline_time(1.0, 2.0, 16, 8, 1)
    _, b4 = pipeline_time(1.0, 2.0, 16, 8, 4)
    assert b4 == pytest.approx(b1 / 4)


def test_bad_schedule_raises() -> None:
    with pytest.raises(ValueError, match="m = 0"):
        pipeline_time(1.0, 1.0, 0, 4)
