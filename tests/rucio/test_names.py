"""Site <-> RSE names: the CMS convention and the overrides (CRIC's data-processing links: tests/cric)."""

from __future__ import annotations

import pytest

from wms2.services.rucio_names import rse_site, site_rse, split_block


@pytest.mark.parametrize(("site", "rse"), [("T2_CH_CERN", "T2_CH_CERN"), ("T1_US_FNAL", "T1_US_FNAL_Disk"),
                                           ("T0_CH_CERN", "T0_CH_CERN_Disk"), ("T3_US_FNALLPC", "T3_US_FNALLPC")])
def test_convention_round_trip(site: str, rse: str) -> None:
    assert site_rse(site) == rse and rse_site(rse) == site


def test_tape_rse_belongs_to_its_site_and_overrides_win() -> None:
    assert rse_site("T1_XX_SiteB_Tape") == "T1_XX_SiteB"
    overrides = {"T2_XX_SiteA": "T2_XX_SiteA_Scratch"}
    assert site_rse("T2_XX_SiteA", overrides) == "T2_XX_SiteA_Scratch"
    assert rse_site("T2_XX_SiteA_Scratch", overrides) == "T2_XX_SiteA"


def test_split_block() -> None:
    assert split_block("/P/S-v1/AOD#abc-1") == ("/P/S-v1/AOD", "abc-1")
    with pytest.raises(ValueError, match="not a CMS block name"):
        split_block("/P/S-v1/AOD")
