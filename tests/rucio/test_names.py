"""Site <-> RSE names: the CMS convention, the overrides, and CRIC's data-processing links."""

from __future__ import annotations

from pathlib import Path

import pytest

from wms2.config import Settings, load_settings
from wms2.services.rucio_names import rse_site, site_rse, split_block
from wms2.services.sites import SiteInfo, output_rse, site_rse_map


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


def _site(name: str, *storage: str) -> SiteInfo:
    return SiteInfo(name=name, tier=int(name[1]), status=None, slots=None, storage=tuple(storage))


def test_output_rse_from_cric_storage() -> None:
    # shapes of CRIC's data-processing table (cms-formats.md §5): FNAL reads Disk, Buffer, MSS and an LPC T3
    fnal = _site("T1_US_FNAL", "T1_US_FNAL_Buffer", "T1_US_FNAL_Disk", "T1_US_FNAL_MSS", "T3_US_FNALLPC")
    cern = _site("T2_CH_CERN", "T2_CH_CERN")
    odd = _site("T2_XX_Odd", "T2_XX_OddStorage")
    ambiguous = _site("T2_XX_Two", "T2_XX_A", "T2_XX_B")
    none = _site("T3_XX_Diskless")
    assert output_rse(fnal) == "T1_US_FNAL_Disk" and output_rse(cern) == "T2_CH_CERN"
    assert output_rse(odd) == "T2_XX_OddStorage"
    assert output_rse(ambiguous) is None and output_rse(none) is None
    assert site_rse_map([fnal, cern, ambiguous, none]) == {"T1_US_FNAL": "T1_US_FNAL_Disk", "T2_CH_CERN": "T2_CH_CERN"}


def test_cric_links_feed_the_rucio_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``engine.cric_url`` set, the site -> RSE map comes from CRIC (read once), under the overrides."""
    from wms2.services import sites as sites_module
    from wms2.services.rucio_catalog import SiteRses

    calls: list[int] = []

    class FakeCric:  # CRIC's HTTP shapes are tested in tests/services; here only the mapping is
        def __init__(self, *_a: object, **_k: object) -> None:
            pass

        @classmethod
        def from_settings(cls, _settings: Settings) -> FakeCric:
            return cls()

        def list_sites(self) -> list[SiteInfo]:
            calls.append(1)
            return [_site("T1_US_FNAL", "T1_US_FNAL_Disk", "T1_US_FNAL_MSS"), _site("T2_XX_A", "T2_XX_AStore")]

        def close(self) -> None:
            pass

    monkeypatch.setattr(sites_module, "CricSiteCatalog", FakeCric)
    settings = load_settings(tmp_path, engine={"cric_url": "https://cric.invalid"},
                             catalog={"site_rses": {"T2_XX_A": "T2_XX_A_Override"}})
    mapping = SiteRses(settings)
    assert site_rse("T2_XX_A", mapping) == "T2_XX_A_Override" and site_rse("T1_US_FNAL", mapping) == "T1_US_FNAL_Disk"
    assert site_rse("T2_XX_Other", mapping) == "T2_XX_Other" and calls == [1]
