"""The upkeep threads' loop (inbox/periodic.py): a failure never ends it, nor floods the log."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from inbox.periodic import Periodic


def test_a_failing_tick_is_logged_and_tried_again_less_often(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tries: list[float] = []
    done = threading.Event()

    class Failing(Periodic):
        name = "failing"

        def tick(self) -> object:
            tries.append(time.monotonic())
            if len(tries) == 4:
                done.set()
            raise OSError("the file is gone")

    failing = Failing(every=0.01)
    failing.start()
    try:
        assert done.wait(5)
    finally:
        failing.stop()
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert gaps[-1] > gaps[0] * 1.5, "it waits longer after each failure"
    assert caplog.text.count("failing failed; trying again shortly") >= 4
