"""CRIC over HTTP (a local server under tests/): the query, auth headers, retries, limits, caching."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import pytest

from wms2.services.cric import CricCatalog, load_topology
from wms2.services.cric_model import CricError

from .conftest import SITE_NAMES, CricState, file_settings, self_signed, serve, url_settings

EXPECTED_SITES = ["T1_US_FNAL", "T1_XX_SiteB", "T2_CH_CERN", "T2_DE_DESY", "T2_XX_SiteA", "T2_XX_SiteC",
                  "T3_US_FNALLPC"]


def test_catalog_from_url(tmp_path: Path, cric_server: tuple[str, CricState]) -> None:
    url, state = cric_server
    sites = CricCatalog.from_settings(url_settings(tmp_path, url + "/")).list_sites()
    assert [s.name for s in sites] == EXPECTED_SITES
    fnal = sites[0]
    assert (fnal.tier, fnal.status, fnal.slots, fnal.facility) == (1, None, None, "USCMS-FNAL-WC1")
    assert fnal.storage == ("T1_US_FNAL_Disk", "T3_US_FNALLPC"), "the output RSE comes first"
    assert [p for p, _ in state.requests] == [
        "/api/cms/site/query/?json&preset=site-names&rcsite_state=ANY",
        "/api/cms/site/query/?json&preset=data-processing&rcsite_state=ANY",
    ]
    assert "authorization" not in {k.lower() for k in state.requests[0][1]}


def test_url_and_files_give_the_same_catalog(tmp_path: Path, cric_server: tuple[str, CricState]) -> None:
    url, _ = cric_server
    from_url = CricCatalog.from_settings(url_settings(tmp_path / "a", url)).list_sites()
    from_files = CricCatalog.from_settings(file_settings(tmp_path / "b")).list_sites()
    assert from_url == from_files


def test_token_is_sent(tmp_path: Path, cric_server: tuple[str, CricState]) -> None:
    url, state = cric_server
    token = tmp_path / "token"
    token.write_text("abc.def-ghi\n")
    load_topology(url_settings(tmp_path, url, cric_token_file=token))
    assert all(h.get("Authorization") == "Bearer abc.def-ghi" for _, h in state.requests)
    token.write_text("two\nlines")
    with pytest.raises(CricError, match=r"sites\.cric_token_file .*token: empty, or not a single-line token"):
        load_topology(url_settings(tmp_path, url, cric_token_file=token), fresh=True)


def test_retries_after_5xx_then_succeeds(tmp_path: Path, cric_server: tuple[str, CricState]) -> None:
    url, state = cric_server
    good = state.answers["site-names"][0]
    state.answers["site-names"] = [(503, b"busy"), (502, b"bad gateway"), good]
    topo = load_topology(url_settings(tmp_path, url, cric_retries=2))
    assert len(topo.sites) == 7 and len(state.requests) == 4  # 3 site-names + 1 data-processing


def test_gives_up_after_the_retries(tmp_path: Path, cric_server: tuple[str, CricState]) -> None:
    url, state = cric_server
    state.answers["data-processing"] = [(500, b"oops")]
    with pytest.raises(CricError, match=r"CRIC http://127\.0\.0\.1:\d+/api/cms/site/query/\?json&preset=data-processing"
                                        r"&rcsite_state=ANY: HTTP 500 \(after 2 attempts\)"):
        load_topology(url_settings(tmp_path, url, cric_retries=1))


def test_4xx_is_not_retried(tmp_path: Path, cric_server: tuple[str, CricState]) -> None:
    url, state = cric_server
    state.answers["site-names"] = [(403, b"forbidden: no certificate")]
    with pytest.raises(CricError, match=r"preset=site-names.*HTTP 403: 'forbidden: no certificate'"):
        load_topology(url_settings(tmp_path, url, cric_retries=3))
    assert len(state.requests) == 1


def test_connection_refused_is_retried_and_named(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CricError, match=rf"CRIC http://127\.0\.0\.1:{port}/api/cms/site/query/.*ConnectError"
                                        r".*\(after 2 attempts\)"):
        load_topology(url_settings(tmp_path, f"http://127.0.0.1:{port}", cric_retries=1))


@pytest.mark.parametrize("no_length", [False, True])
def test_oversized_answer_refused(tmp_path: Path, cric_server: tuple[str, CricState], no_length: bool) -> None:
    url, state = cric_server
    state.no_length = no_length  # without Content-Length the cap is enforced while streaming
    state.answers["site-names"] = [(200, b" " * 5000 + json.dumps(SITE_NAMES).encode())]
    with pytest.raises(CricError, match=r"preset=site-names.*(answer of \d+ bytes|answer longer than the 4096 bytes)"):
        load_topology(url_settings(tmp_path, url, cric_max_bytes=4096))


def test_malformed_answer_names_the_url(tmp_path: Path, cric_server: tuple[str, CricState]) -> None:
    url, state = cric_server
    state.answers["data-processing"] = [(200, b'{"desc": {"columns": ["phedex_name", "psn_name"]}, '
                                              b'"result": [["T2_CH_CERN", "T2_CH_CERN\\" || true || \\""]]}')]
    with pytest.raises(CricError, match=r"CRIC data-processing \(http://127\.0\.0\.1:\d+/api/cms/site/query/\?json"
                                        r"&preset=data-processing&rcsite_state=ANY\): row 0 column 'psn_name'"):
        load_topology(url_settings(tmp_path, url))


def test_tables_are_reused_until_refresh(tmp_path: Path, cric_server: tuple[str, CricState]) -> None:
    url, state = cric_server
    settings = url_settings(tmp_path, url)
    first = load_topology(settings)
    assert load_topology(settings) is first and len(state.requests) == 2
    assert load_topology(settings, fresh=True) is not first and len(state.requests) == 4
    load_topology(url_settings(tmp_path, url, cric_refresh_s=0))
    load_topology(url_settings(tmp_path, url, cric_refresh_s=0))
    assert len(state.requests) == 8


def test_missing_file_is_named(tmp_path: Path) -> None:
    settings = file_settings(tmp_path)
    assert settings.sites.cric_data_processing_file is not None
    settings.sites.cric_data_processing_file.unlink()
    with pytest.raises(CricError, match=r"CRIC file .*data-processing\.json: No such file"):
        load_topology(settings)


def test_big_file_refused_before_reading(tmp_path: Path) -> None:
    settings = file_settings(tmp_path)
    settings.sites.cric_max_bytes = 100
    with pytest.raises(CricError, match=r"CRIC file .*site-names\.json: \d+ bytes, more than the 100 accepted"):
        load_topology(settings)


def test_bad_ca_is_named(tmp_path: Path, cric_server: tuple[str, CricState]) -> None:
    url, _ = cric_server
    with pytest.raises(CricError, match=r"sites\.cric_ca: .*nowhere is neither a file nor a directory"):
        load_topology(url_settings(tmp_path, url, cric_ca=tmp_path / "nowhere"))


def test_client_certificate_is_loaded(tmp_path: Path, cric_server: tuple[str, CricState]) -> None:
    url, _ = cric_server
    cert, key = self_signed(tmp_path, "user")
    topo = load_topology(url_settings(tmp_path, url, cric_cert=cert, cric_key=key))
    assert len(topo.sites) == 7  # plain http here: the certificate is loaded, not presented
    proxy = tmp_path / "proxy.pem"  # a proxy: certificate and key in one file
    proxy.write_text(cert.read_text() + key.read_text())
    load_topology(url_settings(tmp_path, url, cric_cert=proxy), fresh=True)
    with pytest.raises(CricError, match=r"sites\.cric_cert/cric_key: cannot load .*usercert\.pem with key"
                                        r" .*usercert\.pem"):
        load_topology(url_settings(tmp_path, url, cric_cert=cert, cric_key=cert), fresh=True)


def test_https_with_ca_and_client_certificate(tmp_path: Path) -> None:
    """The server is verified against ``cric_ca`` and asks for the X.509 client certificate."""
    server_cert, server_key = self_signed(tmp_path, "server")
    user_cert, user_key = self_signed(tmp_path, "user")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(server_cert, server_key)
    tls.verify_mode = ssl.CERT_REQUIRED
    tls.load_verify_locations(cafile=str(user_cert))
    with serve(CricState(), tls) as url:
        topo = load_topology(url_settings(tmp_path, url, cric_ca=server_cert, cric_cert=user_cert, cric_key=user_key,
                                          cric_retries=0))
        assert len(topo.sites) == 7
        with pytest.raises(CricError, match=r"CRIC https://127\.0\.0\.1:\d+/api/cms/site/query/.*ConnectError"):
            load_topology(url_settings(tmp_path, url, cric_cert=user_cert, cric_key=user_key, cric_retries=0),
                          fresh=True)  # system CAs do not know the test server
        with pytest.raises(CricError, match=r"https://127\.0\.0\.1:\d+/api/cms/site/query/"):
            load_topology(url_settings(tmp_path, url, cric_ca=server_cert, cric_retries=0),
                          fresh=True)  # no client certificate: the handshake is refused
