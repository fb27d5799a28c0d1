"""The One-Euro filter: smooths a still signal, follows a moving one, restarts after a gap."""

from __future__ import annotations

import numpy as np
import pytest

from syncpose.inference.filters import OneEuro, OneEuroConfig


def test_still_noise_is_smoothed_and_a_fast_ramp_is_followed() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(300) / 30.0
    still = 1.0 + rng.normal(0.0, 0.005, size=(300, 17, 3))
    f = OneEuro()
    out = np.stack([f(x, ti) for x, ti in zip(still, t, strict=True)])
    assert out[30:].std() < 0.5 * still[30:].std()

    ramp = 2.0 * t[:, None, None] * np.ones((1, 17, 3))  # 2 m/s: a run
    f = OneEuro()
    out = np.stack([f(x, ti) for x, ti in zip(ramp, t, strict=True)])
    lag = np.abs(out[60:] - ramp[60:]).max()
    slow = OneEuro(OneEuroConfig(beta=0.0))
    out_slow = np.stack([slow(x, ti) for x, ti in zip(ramp, t, strict=True)])
    assert lag < 0.02 < np.abs(out_slow[60:] - ramp[60:]).max()


def test_missing_values_pass_through_and_restart_that_element() -> None:
    f = OneEuro()
    f(np.array([0.0, 0.0]), 0.0)
    out = f(np.array([np.nan, 1.0]), 0.1)
    assert np.isnan(out[0]) and 0.0 < out[1] < 1.0
    back = f(np.array([5.0, 1.0]), 0.2)
    assert back[0] == 5.0  # restarted, not dragged from 0


def test_bad_use_is_refused() -> None:
    f = OneEuro()
    f(np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="must increase"):
        f(np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="shape"):
        f(np.zeros(4), 2.0)
    with pytest.raises(ValueError, match="cut-offs"):
        OneEuroConfig(min_cutoff_hz=0.0)
