"""The classification stride policy: every frame while the machine keeps up."""

from __future__ import annotations

import pytest

from runtime.stride import AdaptiveStride, FixedStride, stride_policy


def feed(policy: AdaptiveStride, base_ms: float, per_face_ms: float, faces: int, frames: int = 60) -> int:
    """Simulated frames: the classification cost follows the stride the policy chose."""
    for i in range(frames):
        due = faces if i % policy.every == 0 else 0
        classify = due * per_face_ms / 1000
        policy.observe(base_ms / 1000 + classify, classify, due, faces)
    return policy.every


def test_a_machine_that_keeps_up_classifies_every_frame():
    assert feed(AdaptiveStride(budget_s=1 / 30), base_ms=8, per_face_ms=3, faces=2) == 1


def test_a_slow_machine_strides_just_enough_to_fit_the_frame_budget():
    # 33.3 ms budget, 85 % usable = 28.3 ms; 10 ms base leaves 18.3 ms for 4 faces x 12 ms
    # (48 ms): a stride of 3 (16 ms) fits, 2 (24 ms) does not.
    p = AdaptiveStride(budget_s=1 / 30)
    assert feed(p, base_ms=10, per_face_ms=12, faces=4) == 3
    # and it comes back to every frame when the load goes away
    assert feed(p, base_ms=10, per_face_ms=12, faces=1, frames=200) == 1


def test_the_stride_is_capped_when_even_detection_alone_is_too_slow():
    assert feed(AdaptiveStride(budget_s=1 / 30, max_every=6), base_ms=40, per_face_ms=3, faces=2) == 6


def test_policy_choice():
    assert stride_policy(None, live=False) == FixedStride(1)  # files, folders, stills
    assert stride_policy(4, live=True) == FixedStride(4)  # --classify-every forces it
    live = stride_policy(None, live=True, fps=25.0)
    assert isinstance(live, AdaptiveStride) and live.budget_s == pytest.approx(0.04)
    assert stride_policy(None, live=True).budget_s == pytest.approx(1 / 30)  # rate unknown
    with pytest.raises(ValueError, match="1 or more"):
        stride_policy(0, live=False)
