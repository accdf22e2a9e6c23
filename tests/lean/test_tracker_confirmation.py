"""New tracks are shown only once confirmed: false faces flicker, real ones stay."""

from __future__ import annotations

from runtime.geometry import Box
from runtime.tracker import Tracker

FACE = Box(100, 100, 80, 80)


def test_a_confident_detection_is_shown_at_once():
    tracker = Tracker()
    (t,) = tracker.update([FACE], [0.93])
    assert t.confirmed and t.id == 1


def test_a_weak_flicker_is_never_shown_and_is_dropped():
    tracker = Tracker()  # bokeh or a backdrop: 0.50-0.60 for three frames, then gone
    for _ in range(3):
        (t,) = tracker.update([FACE], [0.55])
        assert not t.confirmed and t.id == 0
    for _ in range(tracker.confirm_window):
        tracker.update([], [])
    assert tracker.tracks == [] and tracker.confirmed_count == 0


def test_a_weak_face_that_stays_is_shown_after_a_few_frames():
    tracker = Tracker()  # a half-lit face in an audience: 0.52-0.64 for many frames
    shown_at = None
    for frame in range(10):
        (t,) = tracker.update([Box(100 + frame, 100, 80, 80)], [0.52 + 0.01 * (frame % 3)])
        if t.confirmed and shown_at is None:
            shown_at = frame
    assert shown_at == tracker.confirm_hits - 1 and t.id == 1


def test_confirmed_ids_have_no_gaps_for_dropped_candidates():
    tracker = Tracker()
    tracker.update([Box(400, 400, 50, 50)], [0.55])  # a candidate that never confirms
    (t,) = tracker.update([FACE], [0.9])
    assert t.id == 1


def test_a_still_image_has_no_second_frame_so_every_face_counts():
    tracker = Tracker()
    tracks = tracker.update([FACE, Box(300, 100, 60, 60)], [0.52, 0.9], single=True)
    assert all(t.confirmed for t in tracks) and [t.id for t in tracks] == [1, 2]


def test_an_age_averages_every_frame_of_its_track_an_expression_forgets():
    """A person's age is the same on every frame: its track keeps the running mean of every
    classification, while an emotion's moving
    average follows the newest frames; smoothing 1 turns both off."""
    import numpy as np
    import pytest

    from runtime.geometry import Box
    from runtime.tracker import Track

    t = Track(1, Box(0, 0, 10, 10))
    frames = [np.array([v], np.float32) for v in (10.0, 20.0, 30.0, 40.0)]
    for f in frames:
        mean = t.smooth("age", f, 0.35, mean=True)
        ema = t.smooth("emotion", f, 0.35)
    assert float(mean[0]) == pytest.approx(25.0)  # (10 + 20 + 30 + 40) / 4
    assert float(ema[0]) > float(mean[0]) + 1  # the newest frames weigh most
    off = Track(2, Box(0, 0, 10, 10))
    for f in frames:
        last = off.smooth("age", f, 1.0, mean=True)
    assert float(last[0]) == 40.0
