"""The FFT correlation that places video files by their timestamps equals the direct one."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from w2t_bkin.sync.frame_pts import _correlate_valid, _fast_fft_length


def _five_smooth(m: int) -> bool:
    for p in (2, 3, 5):
        while m % p == 0:
            m //= p
    return m == 1


def test_fast_length_is_the_smallest_five_smooth_length() -> None:
    for n in [*range(1, 3000), 539_460, 999_983, 1_080_001]:
        length = _fast_fft_length(n)
        assert length >= n
        assert _five_smooth(length)
        assert not any(_five_smooth(m) for m in range(n, length)), n


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.booleans(), min_size=1, max_size=400),
    st.data(),
)
def test_valid_correlation_of_pulse_masks_is_exact(
    window_bits: list[bool], data: st.DataObject
) -> None:
    kernel_bits = data.draw(st.lists(st.booleans(), min_size=1, max_size=len(window_bits)))
    window = np.asarray(window_bits, dtype=np.float64)
    kernel = np.asarray(kernel_bits, dtype=np.float64)
    expected = np.correlate(window, kernel, mode="valid")
    np.testing.assert_array_equal(np.rint(_correlate_valid(window, kernel)), expected)
