"""Streaming statistics: mergeable moments equal the direct ones, binning counts every value once,
the two-sample tests behave on known inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from wms2.validation.stats import (
    Binning,
    Moments,
    chi2_from_histograms,
    coarse_starts,
    ks_from_histograms,
    make_binning,
)

FLOATS = hnp.arrays(np.float64, st.integers(1, 300), elements=st.floats(-1e6, 1e6, allow_nan=False))


@settings(max_examples=40, deadline=None)
@given(FLOATS, st.integers(1, 5))
def test_merged_moments_equal_direct(x: np.ndarray, parts: int) -> None:
    m = Moments()
    for part in np.array_split(x, parts):
        m.add(part)
    d = x - x.mean()
    scale = max(float(np.abs(x).max()), 1.0)
    assert m.n == x.size and m.lo == x.min() and m.hi == x.max()
    assert m.mean == pytest.approx(x.mean(), abs=1e-9 * scale)
    assert m.m2 == pytest.approx(float((d * d).sum()), rel=1e-6, abs=1e-6 * scale**2)
    assert m.m4 == pytest.approx(float((d**4).sum()), rel=1e-5, abs=1e-5 * scale**4)


def test_non_finite_values_are_counted_apart() -> None:
    m = Moments()
    finite = m.add(np.array([1.0, np.nan, np.inf, -np.inf, 3.0, np.nan], dtype=np.float32))
    assert (m.n, m.nan, m.posinf, m.neginf) == (2, 2, 1, 1) and m.mean == 2.0 and list(finite) == [1.0, 3.0]


def test_integer_moments_via_counts_are_exact() -> None:
    x = np.random.default_rng(1).poisson(3.5, 100_000).astype(np.int32)
    m = Moments()
    m.add(x)
    assert m.mean == pytest.approx(x.mean(), rel=1e-12) and m.variance == pytest.approx(x.var(ddof=1), rel=1e-10)


@settings(max_examples=40, deadline=None)
@given(FLOATS)
def test_every_value_lands_in_one_bin(x: np.ndarray) -> None:
    binning = make_binning(False, x, 50, 0.05).with_extrema(float(x.min()), float(x.max()))
    counts = binning.fill(x)
    assert counts.sum() == x.size
    edges = binning.edges()
    assert edges[0] <= x.min() and edges[-1] >= x.max() and np.all(np.diff(edges) >= 0)
    assert counts[0] == np.count_nonzero(x < binning.lo), (binning, x[x < binning.hi][:20].tolist())


def test_a_subnormal_range_still_bins_every_value() -> None:
    """Found by hypothesis: bins on [0, 2e-308) overflow ``n / width`` to inf, and (0 * inf) gave a NaN bin."""
    x = np.array([2.2250738585072014e-308, 0.0, 0.0])
    binning = make_binning(False, x, 50, 0.05).with_extrema(float(x.min()), float(x.max()))
    counts = binning.fill(x)
    assert counts.sum() == 3 and counts[1] == 2 and counts[-1] == 1


def test_a_value_just_below_a_subnormal_lo_is_underflow() -> None:
    """Found by hypothesis: with lo = 5e-324, (0 - lo) * n / width underflows to -0.0, and 0 was counted in
    the first fine bin instead of the underflow bin."""
    binning = Binning(lo=5e-324, hi=100.0, n=50, low=0.0, high=100.0)
    counts = binning.fill(np.array([0.0, 0.0, 5e-324, 50.0, 100.0]))
    assert counts[0] == 2 and counts[1] == 1 and counts[26] == 1 and counts[-1] == 1 and counts.sum() == 5


def test_integer_bins_one_per_value_and_outliers_clipped() -> None:
    binning = make_binning(True, np.array([2, 3, 5], dtype=np.int32), 100, 0.0)
    assert binning.integer and binning.n == 4
    counts = binning.fill(np.array([2, 2, 3, 4, 5, 5, 5, 0, 9], dtype=np.int32))
    assert counts.tolist() == [1, 2, 1, 1, 3, 1]  # underflow 0, 2, 3, 4, 5, overflow 9


def test_tests_on_known_histograms() -> None:
    same = np.array([100, 200, 300, 200, 100])
    assert ks_from_histograms(same, same * 3) == (0.0, 1.0)
    chi2, ndf, p = chi2_from_histograms(same, same * 3)
    assert chi2 == pytest.approx(0.0) and ndf == 4 and p == pytest.approx(1.0)
    shifted = np.array([0, 100, 200, 300, 300])
    d, ks_p = ks_from_histograms(same, shifted)
    assert d == pytest.approx(300 / 900) and ks_p is not None and ks_p < 1e-6  # CDFs 3/9 apart at bin 3
    assert chi2_from_histograms(same, shifted)[2] < 1e-10
    assert ks_from_histograms(same, np.zeros(5, dtype=np.int64)) == (None, None)


def test_coarse_bins_have_equal_pooled_content() -> None:
    fine = np.full(1000, 10)
    starts = coarse_starts(fine, fine, 40)
    assert len(starts) == 40 and starts[0] == 0
    assert set(np.diff(np.append(starts, 1000))) <= {24, 25, 26}  # 25 up to the cumulative sum rounding
    assert math.isclose(np.add.reduceat(fine, starts).sum(), fine.sum())
