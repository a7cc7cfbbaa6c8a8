"""The simulator's physics branches and distortion knob (the honest inputs of the validation tests)."""

from __future__ import annotations

import numpy as np
import pytest

from wms2.sandbox.manifest import DistortionSpec
from wms2.sandbox.physics import BRANCHES, MISSING_INT, PHYSICS_BYTES, distort, generate


def test_same_seed_same_values_other_seed_other_values() -> None:
    a, b, c = generate(7, 1, 1000), generate(7, 1, 1000), generate(8, 1, 1000)
    assert list(a) == list(BRANCHES) and sum(v.dtype.itemsize for v in a.values()) == PHYSICS_BYTES
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["LeadJet_pt"], c["LeadJet_pt"])
    assert not np.array_equal(a["LeadJet_pt"], generate(7, 2, 1000)["LeadJet_pt"])  # another job's stream


def test_distortions() -> None:
    data = generate(1, 1, 10_000)
    scaled = distort(data, DistortionSpec(branch="LeadJet_pt", scale=1.02, shift=0.5), 1, 1)
    assert np.allclose(scaled["LeadJet_pt"], data["LeadJet_pt"] * 1.02 + 0.5, rtol=1e-6)
    assert scaled["MET_pt"] is data["MET_pt"] and scaled["LeadJet_pt"].dtype == np.float32
    assert "MET_pt" not in distort(data, DistortionSpec(branch="MET_pt", remove=True), 1, 1)
    dropped = distort(data, DistortionSpec(branch="nJet", drop_fraction=0.1), 1, 1)["nJet"]
    assert dropped.dtype == np.int32 and 800 < np.count_nonzero(dropped == MISSING_INT) < 1200
    with pytest.raises(ValueError, match=r"distortion\.branch"):
        distort(data, DistortionSpec(branch="Nope_pt"), 1, 1)
