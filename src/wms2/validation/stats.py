"""Streaming statistics: moments (mergeable), common binnings, and the two-sample tests on histograms.

Everything here works on bounded state: a branch is summarised by :class:`Moments` (pass 1) and by its
counts on a common :class:`Binning` (pass 2), whatever the number of entries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from types import ModuleType

import numpy as np


def _sps() -> ModuleType:
    """scipy.stats, imported on first use: importing it costs about 0.4 CPU-s, and every process that
    imports the validation package (pytest's collection in each worker, the CLI) need not pay it."""
    from scipy import stats

    return stats

#: Values per block of the float passes: 2 MB of float64, cache-sized and reused.
BLOCK = 1 << 18
#: Integer branches whose range is below this are summarised by one bincount (exact moments).
SMALL_INT_RANGE = 1 << 16


@dataclass
class Moments:
    """Count, non-finite counts, extrema and central moments up to the 4th (Pébay's pairwise update,
    numerically stable: sums are taken about each chunk's own mean)."""

    n: int = 0
    nan: int = 0
    posinf: int = 0
    neginf: int = 0
    lo: float = math.inf
    hi: float = -math.inf
    mean: float = 0.0
    m2: float = 0.0
    m3: float = 0.0
    m4: float = 0.0

    def add(self, x: np.ndarray) -> np.ndarray:
        """Account for the values ``x`` (1-D); returns the finite ones."""
        if x.size == 0:
            return x
        lo, hi = x.min(), x.max()
        if x.dtype.kind == "f" and not (math.isfinite(lo) and math.isfinite(hi)):  # NaN/inf reach the extrema
            finite = np.isfinite(x)
            self.nan += int(np.isnan(x).sum())
            self.posinf += int(np.count_nonzero(x == np.inf))
            self.neginf += int(np.count_nonzero(x == -np.inf))
            x = x[finite]
            if x.size == 0:
                return x
            lo, hi = x.min(), x.max()
        self.lo = min(self.lo, float(lo))
        self.hi = max(self.hi, float(hi))
        if x.dtype.kind in "biu" and int(hi) - int(lo) < SMALL_INT_RANGE:
            self._merge_moments(_moments_of_counts(np.bincount(x - lo), float(lo)))
        else:
            self._merge_moments(_moments_blocked(x, 0.5 * (float(lo) + float(hi))))
        return x

    def merge(self, other: Moments) -> None:
        self.nan += other.nan
        self.posinf += other.posinf
        self.neginf += other.neginf
        self.lo = min(self.lo, other.lo)
        self.hi = max(self.hi, other.hi)
        self._merge_moments(other)

    def _merge_moments(self, b: Moments) -> None:
        if b.n == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2, self.m3, self.m4 = b.n, b.mean, b.m2, b.m3, b.m4
            return
        na, nb = float(self.n), float(b.n)
        n = na + nb
        delta = b.mean - self.mean
        m2 = self.m2 + b.m2 + delta * delta * na * nb / n
        m3 = (self.m3 + b.m3 + delta**3 * na * nb * (na - nb) / n**2
              + 3.0 * delta * (na * b.m2 - nb * self.m2) / n)
        m4 = (self.m4 + b.m4 + delta**4 * na * nb * (na * na - na * nb + nb * nb) / n**3
              + 6.0 * delta * delta * (na * na * b.m2 + nb * nb * self.m2) / n**2
              + 4.0 * delta * (na * b.m3 - nb * self.m3) / n)
        self.n = self.n + b.n
        self.mean = self.mean + delta * nb / n
        self.m2, self.m3, self.m4 = m2, m3, m4

    @property
    def nonfinite(self) -> int:
        return self.nan + self.posinf + self.neginf

    @property
    def variance(self) -> float:
        return self.m2 / (self.n - 1) if self.n > 1 else 0.0

    @property
    def std(self) -> float:
        return math.sqrt(max(self.variance, 0.0))

    def std_error_of_std(self) -> float:
        """Standard error of the sample standard deviation from the 4th moment (any distribution):
        Var(s^2) ~ (mu4 - sigma^4) / n and Var(s) ~ Var(s^2) / (4 sigma^2)."""
        if self.n < 2 or self.m2 <= 0:
            return 0.0
        var = self.m2 / self.n
        mu4 = self.m4 / self.n
        return math.sqrt(max(mu4 - var * var, 0.0) / self.n / (4.0 * var))

    def key(self) -> tuple[float, ...]:
        """Everything that must match bit for bit for 'identical'."""
        return (self.n, self.nan, self.posinf, self.neginf, self.lo, self.hi, self.mean, self.m2, self.m3, self.m4)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product without BLAS: OpenBLAS wakes its thread pool for every dot, which costs tens of
    milliseconds on a loaded machine (measured here: 42 ms for 20,000 values, against 20 us)."""
    return float(np.einsum("i,i->", a, b))


def _moments_of_counts(counts: np.ndarray, offset: float) -> Moments:
    """Exact moments of integers from their histogram (one bincount instead of float passes)."""
    values = np.arange(counts.size, dtype=np.float64) + offset
    n = int(counts.sum())
    w = counts.astype(np.float64)
    mean = _dot(w, values) / n
    d = values - mean
    d2 = d * d
    return Moments(n=n, mean=mean, m2=_dot(w, d2), m3=_dot(w, d2 * d), m4=_dot(w, d2 * d2))


def _moments_blocked(x: np.ndarray, pivot: float) -> Moments:
    """Central moments from power sums about ``pivot`` (the chunk's mid-range: no extra pass for the
    mean), in cache-sized blocks with reused buffers (fresh large temporaries cost page faults, which
    dominate on a loaded machine)."""
    d = np.empty(min(x.size, BLOCK), dtype=np.float64)
    d2 = np.empty_like(d)
    s1 = s2 = s3 = s4 = 0.0
    for i in range(0, x.size, BLOCK):
        xb = x[i : i + BLOCK]
        db, d2b = d[: xb.size], d2[: xb.size]
        np.subtract(xb, pivot, out=db)
        np.multiply(db, db, out=d2b)
        s1 += float(db.sum())
        s2 += float(d2b.sum())
        s3 += _dot(d2b, db)
        s4 += _dot(d2b, d2b)
    n = float(x.size)
    a = s1 / n  # mean - pivot
    m2 = s2 - s1 * a
    m3 = s3 - 3.0 * a * s2 + 2.0 * a * a * s1
    m4 = s4 - 4.0 * a * s3 + 6.0 * a * a * s2 - 3.0 * a**3 * s1
    return Moments(n=int(x.size), mean=pivot + a, m2=max(m2, 0.0), m3=m3, m4=max(m4, 0.0))


@dataclass(frozen=True)
class Binning:
    """``n`` uniform bins on ``[lo, hi)`` plus an underflow ``[low, lo)`` and an overflow ``[hi, high]`` bin
    (the extrema of both sides, so nothing falls outside).  Integer branches with a small range get one
    bin per value (``integer``)."""

    lo: float
    hi: float
    n: int
    low: float
    high: float
    integer: bool = False

    def with_extrema(self, low: float, high: float) -> Binning:
        """The same bins, the under/overflow bins closed at the data's extrema."""
        return replace(self, low=min(low, self.lo), high=max(high, self.hi))

    def edges(self) -> np.ndarray:
        core = np.linspace(self.lo, self.hi, self.n + 1)
        return np.concatenate([[min(self.low, self.lo)], core, [max(self.high, self.hi)]])

    def fill(self, x: np.ndarray) -> np.ndarray:
        """Counts of the finite values ``x`` in the ``n + 2`` bins."""
        counts = np.zeros(self.n + 2, dtype=np.int64)
        if x.size == 0:
            return counts
        if self.integer and x.dtype.kind in "biu":
            xmin, xmax = x.min(), x.max()
            if int(xmax) - int(xmin) <= SMALL_INT_RANGE:  # one bincount; outliers clipped to under/overflow
                found = np.bincount(x - xmin)  # non-negative and small in x's own dtype
                first = int(xmin) - (int(self.lo + 0.5) - 1)  # bin of xmin (value lo + 0.5 is bin 1)
                bins = np.clip(np.arange(found.size) + first, 0, self.n + 1)
                counts += np.bincount(bins, weights=found, minlength=self.n + 2).astype(np.int64)
                return counts
        width = self.hi - self.lo
        scale = self.n / width  # inf for a subnormal width: then (x - lo) / width * n, which stays finite
        exact = bool(np.isfinite(scale))
        buf = np.empty(min(x.size, BLOCK), dtype=np.float64)
        idx = np.empty(buf.size, dtype=np.intp)
        for i in range(0, x.size, BLOCK):
            xb = x[i : i + BLOCK]
            b, ib = buf[: xb.size], idx[: xb.size]
            np.subtract(xb, self.lo, out=b)  # bin = floor((x - lo) * scale) + 1, clipped to under/overflow
            if exact:
                np.multiply(b, scale, out=b)
            else:
                with np.errstate(over="ignore"):  # a value far outside becomes inf: the overflow bin
                    np.divide(b, width, out=b)
                    np.multiply(b, self.n, out=b)
            np.floor(b, out=b)  # before the +1: a tiny negative must not round up into bin 1
            # x < lo always gives x - lo < 0, but the product can underflow to -0.0, which floor keeps and
            # the +1 would put in bin 1 (found by hypothesis: lo = 5e-324, x = 0): the sign bit decides
            np.copyto(b, -1.0, where=np.signbit(b))
            b += 1.0
            np.clip(b, 0, self.n + 1, out=b)
            np.copyto(ib, b, casting="unsafe")
            counts += np.bincount(ib, minlength=self.n + 2)
        return counts


def make_binning(integer: bool, sample: np.ndarray, fine_bins: int, tail_q: float) -> Binning:
    """Common fine bins from a pooled sample of both sides (the first entries of every file): one bin
    per value for integers of a small range, else ``fine_bins`` uniform bins on the sample's
    ``[tail_q, 1 - tail_q]`` quantiles.  Values outside go to the under/overflow bins, whose outer edges
    (:meth:`Binning.with_extrema`) are the data's extrema once known."""
    if sample.size == 0:
        return Binning(0.0, 1.0, 1, 0.0, 1.0)
    low, high = float(sample.min()), float(sample.max())
    if integer and high - low + 1 <= fine_bins:
        return Binning(low - 0.5, high + 0.5, int(high - low) + 1, low - 0.5, high + 0.5, integer=True)
    lo, hi = (float(q) for q in np.quantile(sample, [tail_q, 1.0 - tail_q]))
    if not hi > lo:
        lo, hi = low, high
    if not hi > lo:
        return Binning(low - 0.5, high + 0.5, 1, low - 0.5, high + 0.5)
    return Binning(lo, hi, fine_bins, lo, hi)


def coarse_starts(ref: np.ndarray, new: np.ndarray, bins: int) -> np.ndarray:
    """Start indices (for ``np.add.reduceat``) grouping fine bins into ~``bins`` bins of equal pooled
    content (each side normalised, so a larger side does not decide the binning alone)."""
    pooled = ref / max(ref.sum(), 1) + new / max(new.sum(), 1)
    cum = np.cumsum(pooled)
    if cum[-1] <= 0:
        return np.array([0])
    cuts = np.searchsorted(cum, cum[-1] * np.arange(1, bins) / bins, side="right")
    starts = np.unique(np.concatenate([[0], cuts]))
    return starts[starts < len(pooled)]


def ks_from_histograms(ref: np.ndarray, new: np.ndarray) -> tuple[float | None, float | None]:
    """Binned two-sample KS: the largest CDF distance at the common bin edges (a lower bound of the
    unbinned D) and its asymptotic p-value with n_eff = n m / (n + m)."""
    n, m = int(ref.sum()), int(new.sum())
    if n == 0 or m == 0:
        return None, None
    d = float(np.max(np.abs(np.cumsum(ref) / n - np.cumsum(new) / m)))
    n_eff = n * m / (n + m)
    return d, float(_sps().kstwobign.sf(d * math.sqrt(n_eff))) if d > 0 else 1.0


def chi2_from_histograms(ref: np.ndarray, new: np.ndarray) -> tuple[float | None, int | None, float | None]:
    """Two-sample chi2 for shapes (unequal totals): sum (sqrt(M/N) R - sqrt(N/M) S)^2 / (R + S), ndf = bins - 1."""
    n, m = float(ref.sum()), float(new.sum())
    if n == 0 or m == 0:
        return None, None, None
    used = (ref + new) > 0
    r, s = ref[used].astype(np.float64), new[used].astype(np.float64)
    chi2 = float(np.sum((math.sqrt(m / n) * r - math.sqrt(n / m) * s) ** 2 / (r + s)))
    ndf = int(used.sum()) - 1
    if ndf <= 0:
        return chi2, 0, 1.0
    return chi2, ndf, float(_sps().chi2.sf(chi2, ndf))


def pull(diff: float, error: float) -> float:
    """diff / error; a difference with zero error is infinitely significant, no difference is 0."""
    if error > 0:
        return diff / error
    return 0.0 if diff == 0 else math.copysign(math.inf, diff)


def proportion_pull(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-proportion z (pooled): how significant k2/n2 - k1/n1 is."""
    if n1 == 0 or n2 == 0:
        return 0.0
    p = (k1 + k2) / (n1 + n2)
    return pull(k2 / n2 - k1 / n1, math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2)))
