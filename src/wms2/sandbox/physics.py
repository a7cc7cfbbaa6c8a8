"""Physics-like per-event quantities the simulator writes next to its filler ``payload``.

A flat, NanoAOD-like set of branches (one value per event, so the uproot merge handles them as any
fixed-size branch) with plausible shapes: a falling jet spectrum, a Z-like dimuon peak, pile-up
vertices, multiplicities.  The values are a pure function of ``(seed, stream)``, so the same seed
gives bit-identical files and different seeds statistically compatible ones; a
:class:`~wms2.sandbox.manifest.DistortionSpec` changes one branch on purpose (physics-validation tests).
"""

from __future__ import annotations

import numpy as np

from wms2.sandbox.manifest import DistortionSpec

#: Branch name -> on-disk type, in writing order.
BRANCHES: dict[str, np.dtype] = {
    "PV_npvs": np.dtype(np.int32),
    "nJet": np.dtype(np.int32),
    "LeadJet_pt": np.dtype(np.float32),
    "LeadJet_eta": np.dtype(np.float32),
    "LeadJet_phi": np.dtype(np.float32),
    "MET_pt": np.dtype(np.float32),
    "Dimuon_mass": np.dtype(np.float32),
    "genWeight": np.dtype(np.float32),
}
#: Bytes per event taken by the physics branches (subtracted from the filler payload).
PHYSICS_BYTES = sum(dt.itemsize for dt in BRANCHES.values())

# Shapes (typical Run-3 magnitudes; only their plausibility matters here).
_PILEUP_MEAN = 32.0  # reconstructed primary vertices per event
_JET_MULTIPLICITY = 3.5
_JET_PT_MIN_GEV = 25.0  # analysis threshold of the leading jet
_JET_PT_SLOPE_GEV = 35.0  # exponential fall-off of the spectrum
_JET_ETA_WIDTH = 1.6
_TRACKER_ETA = 4.7  # |eta| acceptance of the jets
_MET_SCALE_GEV = 20.0  # Rayleigh scale of the missing transverse momentum
_Z_MASS_GEV = 91.19
_DIMUON_RESOLUTION_GEV = 2.5
_WEIGHT_SPREAD = 0.05
#: Integer branches have no NaN: a dropped entry becomes this (the usual "not set" marker).
MISSING_INT = -1


def generate(seed: int, stream: int, n: int) -> dict[str, np.ndarray]:
    """``n`` events of every physics branch, drawn from the random stream ``(seed, stream)``."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, stream & 0xFFFFFFFFFFFF, 0x5EED])
    eta = np.clip(rng.normal(0.0, _JET_ETA_WIDTH, n), -_TRACKER_ETA, _TRACKER_ETA)
    values = {
        "PV_npvs": rng.poisson(_PILEUP_MEAN, n),
        "nJet": rng.poisson(_JET_MULTIPLICITY, n),
        "LeadJet_pt": _JET_PT_MIN_GEV + rng.exponential(_JET_PT_SLOPE_GEV, n),
        "LeadJet_eta": eta,
        "LeadJet_phi": rng.uniform(-np.pi, np.pi, n),
        "MET_pt": rng.rayleigh(_MET_SCALE_GEV, n),
        "Dimuon_mass": rng.normal(_Z_MASS_GEV, _DIMUON_RESOLUTION_GEV, n),
        "genWeight": rng.normal(1.0, _WEIGHT_SPREAD, n),
    }
    return {name: values[name].astype(dtype) for name, dtype in BRANCHES.items()}


def distort(data: dict[str, np.ndarray], spec: DistortionSpec, seed: int, stream: int) -> dict[str, np.ndarray]:
    """Apply ``spec`` to its branch of ``data`` (any branch the simulator writes); returns a new dict."""
    if spec.branch not in data:
        raise ValueError(f"distortion.branch: {spec.branch!r} is not a simulator branch ({', '.join(sorted(data))})")
    out = dict(data)
    if spec.remove:
        del out[spec.branch]
        return out
    column = data[spec.branch]
    changed = column.astype(np.float64) * spec.scale + spec.shift
    if spec.drop_fraction > 0:
        rng = np.random.default_rng([seed & 0xFFFFFFFF, stream & 0xFFFFFFFFFFFF, 0xD809])
        dropped = rng.random(column.shape[0]) < spec.drop_fraction
        changed[dropped] = np.nan if column.dtype.kind == "f" else MISSING_INT
    if column.dtype.kind != "f":
        changed = np.rint(changed)
    out[spec.branch] = changed.astype(column.dtype)
    return out
