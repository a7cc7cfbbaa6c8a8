"""One overlay plot per branch (reference vs new, ratio panel below), as PNG bytes (matplotlib, Agg)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: the report is rendered on a server

import matplotlib.pyplot as plt
import numpy as np

from wms2.validation.model import BranchResult

FIGSIZE_IN = (6.4, 4.6)
DPI = 80  # ~25 kB per PNG: a report of 200 branches stays a few MB
REF_COLOR, NEW_COLOR = "#1f77b4", "#d62728"
RATIO_RANGE = (0.5, 1.5)


def _densities(edges: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Density per unit of the branch (variable-width bins) and its Poisson error."""
    width = np.diff(edges)
    width[width <= 0] = 1.0
    total = max(float(counts.sum()), 1.0)
    return counts / (total * width), np.sqrt(counts) / (total * width)


def overlay_png(branch: BranchResult) -> bytes | None:
    """The plot of one compared branch; None when there is nothing to draw (one-sided branch)."""
    hist = branch.histogram
    if hist is None or len(hist.edges) < 2:
        return None
    edges = np.asarray(hist.edges, dtype=np.float64)
    ref, new = np.asarray(hist.ref, dtype=np.float64), np.asarray(hist.new, dtype=np.float64)
    dref, eref = _densities(edges, ref)
    dnew, enew = _densities(edges, new)
    centers = 0.5 * (edges[1:] + edges[:-1])
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=FIGSIZE_IN, dpi=DPI,
                                      gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
    try:
        top.stairs(dref, edges, color=REF_COLOR, fill=True, alpha=0.35, label=f"reference ({int(ref.sum())})")
        top.errorbar(centers, dnew, yerr=enew, fmt="o", ms=3, color=NEW_COLOR, label=f"new ({int(new.sum())})")
        top.set_ylabel("density")
        top.set_title(f"{branch.group} / {branch.tree} / {branch.name}: {branch.verdict}", fontsize=10)
        ks = "n/a" if branch.ks_p is None else f"{branch.ks_p:.3g}"
        chi2 = "n/a" if branch.chi2_p is None else f"{branch.chi2_p:.3g}"
        top.legend(title=f"KS p {ks}, chi2 p {chi2}", fontsize=8, title_fontsize=8)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(dref > 0, dnew / dref, np.nan)
            rerr = np.where(dref > 0, ratio * np.hypot(enew / np.where(dnew > 0, dnew, 1), eref / dref), np.nan)
        bottom.axhline(1.0, color="grey", lw=0.8)
        bottom.errorbar(centers, ratio, yerr=rerr, fmt="o", ms=3, color=NEW_COLOR)
        bottom.set_ylim(*RATIO_RANGE)
        bottom.set_ylabel("new / ref")
        bottom.set_xlabel(branch.name)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()
    finally:
        plt.close(fig)
