"""Turn the merged summaries of one branch (or tree) into its result and verdict."""

from __future__ import annotations

import math

import numpy as np

from wms2.config import ValidationSettings
from wms2.validation.model import BranchResult, Histogram, SideStats, TreeResult, finite
from wms2.validation.stats import (
    Binning,
    Moments,
    chi2_from_histograms,
    coarse_starts,
    ks_from_histograms,
    proportion_pull,
    pull,
)


def side_stats(m: Moments) -> SideStats:
    has = m.n > 0
    return SideStats(values=m.n, nan=m.nan, posinf=m.posinf, neginf=m.neginf,
                     min=finite(m.lo) if has else None, max=finite(m.hi) if has else None,
                     mean=finite(m.mean) if has else None, std=finite(m.std) if has else None)


def _histogram(binning: Binning, ref: np.ndarray, new: np.ndarray, bins: int) -> tuple[Histogram, np.ndarray,
                                                                                          np.ndarray]:
    starts = coarse_starts(ref, new, bins)
    edges = binning.edges()
    rc, nc = np.add.reduceat(ref, starts), np.add.reduceat(new, starts)
    coarse_edges = [float(edges[i]) for i in starts] + [float(edges[-1])]
    return Histogram(edges=coarse_edges, ref=rc.tolist(), new=nc.tolist()), rc, nc


def _pulls(rm: Moments, nm: Moments) -> dict[str, float]:
    mean_err = math.sqrt(rm.variance / max(rm.n, 1) + nm.variance / max(nm.n, 1))
    width_err = math.hypot(rm.std_error_of_std(), nm.std_error_of_std())
    return {
        "mean_z": pull(nm.mean - rm.mean, mean_err) if rm.n and nm.n else 0.0,
        "width_z": pull(nm.std - rm.std, width_err) if rm.n > 1 and nm.n > 1 else 0.0,
        "count_z": pull(float(nm.n - rm.n), math.sqrt(rm.n + nm.n)),
        "nonfinite_z": proportion_pull(rm.nonfinite, rm.n + rm.nonfinite, nm.nonfinite, nm.n + nm.nonfinite),
    }


def _problems(res: BranchResult, rm: Moments, nm: Moments, cfg: ValidationSettings) -> list[str]:
    out = []
    if (rm.n == 0) != (nm.n == 0):
        out.append(f"finite values: {rm.n} (ref) vs {nm.n} (new)")
    if res.ks_p is not None and res.ks_p < cfg.ks_p_min:
        out.append(f"KS D = {res.ks_d:.3g}, p = {res.ks_p:.2g} < {cfg.ks_p_min:g}")
    if res.chi2_p is not None and res.chi2_p < cfg.chi2_p_min:
        out.append(f"chi2 = {res.chi2:.4g} / {res.chi2_ndf}, p = {res.chi2_p:.2g} < {cfg.chi2_p_min:g}")
    checks = (
        ("mean_z", f"mean {rm.mean:.6g} -> {nm.mean:.6g}"),
        ("width_z", f"width {rm.std:.6g} -> {nm.std:.6g}"),
        ("count_z", f"values {rm.n} -> {nm.n}"),
        ("nonfinite_z", f"NaN/inf {rm.nonfinite} -> {nm.nonfinite}"),
    )
    for field, text in checks:
        z = getattr(res, field)
        if z is not None and abs(z) > cfg.z_max:
            out.append(f"{text} ({z:+.1f} sigma > {cfg.z_max:g})")
    return out


def branch_result(name: str, tree: str, group: str, rm: Moments, nm: Moments, ref: np.ndarray, new: np.ndarray,
                  binning: Binning, cfg: ValidationSettings) -> BranchResult:
    """Tests and verdict of one branch present on both sides."""
    identical = rm.key() == nm.key() and np.array_equal(ref, new)
    histogram, rc, nc = _histogram(binning, ref, new, cfg.coarse_bins)
    ks_d, ks_p = ks_from_histograms(ref, new)
    chi2, ndf, chi2_p = chi2_from_histograms(rc, nc)
    res = BranchResult(
        name=name, tree=tree, group=group, verdict="identical", ks_d=finite(ks_d), ks_p=finite(ks_p),
        chi2=finite(chi2), chi2_ndf=ndf, chi2_p=finite(chi2_p), ref=side_stats(rm), new=side_stats(nm),
        histogram=histogram, **{k: finite(v) for k, v in _pulls(rm, nm).items()},
    )
    if identical:
        return res
    problems = _problems(res, rm, nm, cfg)
    return res.model_copy(update={"verdict": "different" if problems else "compatible", "problems": problems})


def missing_branch(name: str, tree: str, group: str, side: str) -> BranchResult:
    other = "new" if side == "ref" else "ref"
    return BranchResult(name=name, tree=tree, group=group, verdict="different", only_in=side,  # type: ignore[arg-type]
                        problems=[f"branch only in {side} (missing in {other})"])


def tree_result(group: str, tree: str, ref_entries: int | None, new_entries: int | None, *,
                only_in: str | None = None, problem: str | None = None, skipped: list[str] | None = None,
                z_max: float = 5.0) -> TreeResult:
    if only_in is not None:
        return TreeResult(name=tree, group=group, verdict="different", only_in=only_in,  # type: ignore[arg-type]
                          problems=[problem or f"only in {only_in}"])
    n1, n2 = ref_entries or 0, new_entries or 0
    z = pull(float(n2 - n1), math.sqrt(n1 + n2))
    problems = [f"entries {n1} -> {n2} ({z:+.1f} sigma > {z_max:g})"] if abs(z) > z_max else []
    verdict = "different" if problems else ("identical" if n1 == n2 else "compatible")
    return TreeResult(name=tree, group=group, verdict=verdict, ref_entries=n1, new_entries=n2,  # type: ignore[arg-type]
                      entries_z=finite(z), problems=problems, skipped=skipped or [])
