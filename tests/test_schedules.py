"""Tests for nnscratch.schedules: the learning-rate schedules."""

from __future__ import annotations

import pytest

from nnscratch.schedules import ConstantSchedule, CosineSchedule, StepSchedule


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ConstantSchedule(0.0), "lr"),
        (lambda: StepSchedule(0.1, step_size=0), "step_size"),
        (lambda: StepSchedule(0.1, step_size=10, gamma=0.0), "gamma"),
        (lambda: StepSchedule(0.1, step_size=10, gamma=1.5), "gamma"),
        (lambda: StepSchedule(0.1, step_size=10, warmup_steps=-1), "warmup_steps"),
        (lambda: CosineSchedule(0.1, warmup_steps=2.5), "warmup_steps"),
        (lambda: CosineSchedule(0.1, final_lr=0.2), "final_lr"),
        (lambda: CosineSchedule(0.1, final_lr=-0.1), "final_lr"),
    ],
)
def test_invalid_hyper_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_cosine_schedule_at_chosen_steps():
    schedule = CosineSchedule(1.0, warmup_steps=4, final_lr=0.1)
    assert [schedule(s, 104) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert schedule(4, 104) == pytest.approx(1.0)  # the end of the warm-up: the peak
    assert schedule(54, 104) == pytest.approx(0.55)  # half-way down: the mean of both ends
    assert schedule(104, 104) == pytest.approx(0.1)  # total_steps: final_lr
    assert 0.1 < schedule(103, 104) < 0.101
    rates = [schedule(s, 104) for s in range(4, 105)]
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))
    assert CosineSchedule(2.0)(0, 10) == 2.0
    assert CosineSchedule(2.0)(9, 10) > 0  # every step taken has a positive rate


def test_step_schedule_at_chosen_steps():
    schedule = StepSchedule(1.0, step_size=10, gamma=0.5, warmup_steps=2)
    assert schedule(0, 100) == pytest.approx(0.5)
    assert schedule(1, 100) == pytest.approx(1.0)
    assert schedule(9, 100) == pytest.approx(1.0)
    assert schedule(10, 100) == pytest.approx(0.5)
    assert schedule(25, 100) == pytest.approx(0.25)
    assert ConstantSchedule(0.3)(77, 100) == 0.3


def test_schedules_refuse_steps_out_of_range():
    with pytest.raises(ValueError, match="step"):
        ConstantSchedule(0.1)(11, 10)
    with pytest.raises(ValueError, match="total_steps"):
        StepSchedule(0.1, step_size=1)(0, 0)
    with pytest.raises(ValueError, match="warmup_steps"):
        CosineSchedule(0.1, warmup_steps=10)(10, 10)
