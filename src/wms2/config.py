"""One settings object for the whole service.

Every number of the design brief is a setting here, with the brief's default.  Values come, in
increasing precedence, from the defaults below, an optional TOML file (``$WMS2_HOME/wms2.toml`` or
``WMS2_CONFIG``), and ``WMS2_*`` environment variables (nested sections use ``__``, e.g.
``WMS2_ADMISSION__MAX_ACTIVE_DAGS=10``).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_HOME = ".wms2"


class LifecycleSettings(BaseModel):
    cycle_seconds: float = Field(60.0, gt=0, description="main loop period")
    api_yield_max_seconds: float = Field(
        0.05, ge=0, description="in wms2 serve, longest wait of the cycle for API requests in flight between"
        " two requests (never longer in all than the cycle has worked); 0 = no wait")
    # Stuck-detection timeouts per status, in seconds (design §6.2). None = no timeout.
    timeout_submitted: float | None = 3600.0
    timeout_queued: float | None = 7 * 86400.0
    timeout_planning: float | None = 3600.0
    timeout_active: float | None = 30 * 86400.0
    timeout_stopping: float | None = 3600.0
    timeout_resubmitting: float | None = 600.0
    timeout_held: float | None = None
    alert_repeat_seconds: float = Field(3600.0, ge=0, description="do not repeat an identical alert sooner")
    # Added by hardening (issue 12): a request whose planning keeps being deferred (input not in the
    # catalog, catalog down, nothing placeable) is alerted on, then held with the reason. None = never.
    deferred_alert_seconds: float | None = Field(
        3600.0, gt=0, description="alert after planning was deferred this long (the planning timeout)")
    deferred_hold_seconds: float | None = Field(
        86400.0, gt=0, description="hold (operator decides) after planning was deferred this long")
    # Added by fast tests (issue 15): a driver that runs the cycles itself (``wms2 demo``, the e2e tests)
    # runs the next cycle at once after a transition or an engine change (a DAG job created, updated
    # or finished), re-checking the engine with a back-off from the first value to the second, and at
    # the latest after cycle_seconds.
    change_poll_min_seconds: float = Field(0.02, gt=0, description="first re-check for an engine change")
    change_poll_max_seconds: float = Field(0.25, gt=0, description="longest wait between two re-checks")
    # Added by cycle headroom (issue 15 item 4): consecutive active requests share one transaction (a
    # SAVEPOINT each, one fenced commit) and their common rows are read in one query per batch. 20 keeps a
    # batch's write lock on SQLite to ~0.2 s and divides the per-batch statements by 20; 1 = one
    # transaction per request, as before.
    batch_size: int = Field(20, ge=1, le=1000, description="active requests evaluated per transaction")
    # Added by lifecycle headroom (issue 15 item 4, session 6): DAGMan's files (outer and inner status
    # files, new WUs' result files: ~40 % of a steady cycle) are read by a reader process on another core,
    # pipelined with the database work of the batch (wms2.core.status_reader). 1 (the default): the
    # lifecycle uses two cores where it has them, which the cycle targets need; 0 = read in-process.
    status_reader_processes: int = Field(
        1, ge=0, le=1, description="processes reading DAGMan's files for the lifecycle (0 = in-process)")
    # A batch with fewer DAGs to poll is read in-process: reading 8 DAGs costs ~40 ms, a reader's start
    # (spawn + imports) ~0.3 s, so small installations and tests never start one.
    status_reader_min_dags: int = Field(8, ge=1, description="fewest DAGs in a batch worth the reader process")
    status_reader_timeout_seconds: float = Field(
        60.0, gt=0, description="longest wait for one DAG's answer before the reader is stopped (in-process"
        " after that); a DAG's files read in milliseconds, a stalled file system is the reason to give up")
    status_reader_restart_seconds: float = Field(
        300.0, ge=0, description="after a reader failed, read in-process this long before starting a new one")

    def timeout_for(self, status: str) -> float | None:
        value = getattr(self, f"timeout_{status}", None)
        return value if isinstance(value, (int, float)) else None


class OwnershipSettings(BaseModel):
    """One lifecycle owner among many processes (``wms2.core.ownership``): a lease row with a fencing token."""

    lease_seconds: float = Field(20.0, gt=0, description="a lease not renewed this long may be taken over")
    renew_seconds: float = Field(5.0, gt=0, description="heartbeat period of the owner (keep <= lease/3)")
    standby_poll_seconds: float = Field(2.0, gt=0, description="how often a stand-by looks at the lease")
    db_retry_base_s: float = Field(1.0, gt=0, description="first wait after the database was unreachable")
    db_retry_max_s: float = Field(60.0, gt=0, description="longest wait between database retries")


class AdmissionSettings(BaseModel):
    max_active_dags: int = Field(300, ge=0, description="cap on active DAGs (design §4)")


class ResourceSettings(BaseModel):
    default_memory_per_core_mb: int = Field(2000, gt=0)
    max_memory_per_core_mb: int = Field(3000, gt=0)
    memory_safety_margin: float = Field(0.20, ge=0, description="round>=1: peak RSS x (1+margin)")
    min_request_memory_mb: int = Field(4000, gt=0, description="round>=1 lower clamp")
    target_wall_time_s: float = Field(8 * 3600.0, gt=0)
    wall_time_overhead_s: float = Field(600.0, ge=0)
    events_per_job_max_change: float = Field(2.0, ge=1.0)
    events_per_job_rounding: int = Field(100, ge=1)
    min_request_cpus: int = Field(4, ge=1)
    default_time_per_event_s: float = Field(12.0, gt=0)
    default_size_per_event_kb: float = Field(512.0, gt=0)
    default_memory_mb: float = Field(2300.0, gt=0)
    # Added by round planning (issue 4): optional caps for small pools (a laptop running the local
    # engine cannot match an 8-core, 16 GB request); None = no cap (production).
    max_request_cpus: int | None = Field(None, ge=1)
    max_request_memory_mb: int | None = Field(None, ge=1)


class PlanningSettings(BaseModel):
    jobs_per_work_unit: int = Field(8, ge=1)
    max_jobs_per_work_unit: int = Field(100, ge=1)
    first_round_work_units: int = Field(1, ge=1)
    work_units_per_round: int = Field(10, ge=1)
    pilot_fraction: float = Field(0.01, gt=0, le=1)
    test_fraction: float = Field(1.0, gt=0, le=1)
    max_merge_size_bytes: int = Field(4 * 1024**3, gt=0)
    oversized_fraction: float = Field(0.75, gt=0, le=1)
    merge_group_maxjobs: int = Field(10, ge=1, description="MAXJOBS MergeGroup in the outer DAG")
    processing_maxjobs: int = Field(5000, ge=1)
    merge_maxjobs: int = Field(100, ge=1)
    cleanup_maxjobs: int = Field(50, ge=1)
    landing_retries: int = Field(3, ge=0)
    processing_retries: int = Field(3, ge=0)
    merge_retries: int = Field(2, ge=0)
    cleanup_retries: int = Field(1, ge=0)
    low_filter_efficiency: float = Field(0.01, gt=0, le=1, description="below it: one lumi per WU")
    node_status_update_seconds: int = Field(30, ge=1)
    max_jobs_per_request: int = Field(2_000_000, ge=1, description="absurd-size guard")
    # Added by hardening (issue 12): checked at submission (generation) and at planning.
    max_work_units_per_request: int = Field(
        250_000, ge=1, description="absurd-size guard: max_jobs_per_request / jobs_per_work_unit")
    max_dag_nodes: int = Field(
        1_000_000, ge=1, description="nodes in one DAG: 10x the largest workflows of design §11 (100,000)")
    # periodic_remove guards written into submit files
    max_held_seconds: int = Field(86400, ge=1)
    max_idle_seconds_high_priority: int = Field(3 * 86400, ge=1)
    max_idle_seconds_low_priority: int = Field(7 * 86400, ge=1)
    high_priority_threshold: int = Field(100000, ge=0)
    max_wall_time_factor: float = Field(2.0, gt=1.0, description="wall-time guard = estimate x factor")
    disk_overuse_factor: float = Field(2.0, gt=1.0)
    # Added by round planning (issue 4)
    merge_memory_mb: int = Field(2000, gt=0, description="request_memory of merge jobs")
    merge_disk_factor: float = Field(2.0, gt=0, description="merge request_disk = factor x one WU's output")
    cleanup_memory_mb: int = Field(500, gt=0)
    cleanup_disk_kb: int = Field(100_000, gt=0)
    min_wall_time_guard_s: int = Field(3600, ge=1, description="floor of the periodic_remove wall-time guard")
    dagman_max_jobs_idle: int = Field(1000, ge=0, description="DAGMAN_MAX_JOBS_IDLE (DAGMan default)")
    dagman_max_submits_per_interval: int = Field(100, ge=1, description="DAGMan default")
    dagman_user_log_scan_interval: int = Field(5, ge=1, description="seconds; DAGMan default")
    dagman_max_rescue_num: int = Field(100, ge=0, description="DAGMan default")
    dagman_max_pre_scripts: int = Field(20, ge=1, description="DAGMan default")
    dagman_max_post_scripts: int = Field(20, ge=1, description="DAGMan default")
    abort_exit_code: int = Field(43, description="POST exit that aborts the WU sub-DAG (design §6.5)")
    permanent_exit_code: int = Field(42, description="POST exit meaning no more retries (design §6.5)")
    # Local/test payload (simulator) defaults when the request has no WMS2Simulator hints
    simulator_cpu_seconds_per_event: float = Field(0.01, ge=0)
    simulator_memory_mb: float = Field(200.0, ge=0)
    simulator_size_per_event_kb: float = Field(20.0, ge=0)


class FailureSettings(BaseModel):
    rescue_failure_ratio: float = Field(0.20, gt=0, le=1)
    max_failure_rescues: int = Field(3, ge=0)
    transient_cooloff_base_s: float = Field(60.0, ge=0)
    transient_cooloff_max_s: float = Field(600.0, ge=0)
    memory_bump_factor: float = Field(1.5, gt=1.0)
    catastrophic_siblings: int = Field(3, ge=1)
    site_ban_failure_fraction: float = Field(0.5, gt=0, le=1)
    site_ban_min_failures: int = Field(3, ge=1)
    site_ban_days: float = Field(7.0, gt=0)
    system_ban_workflows: int = Field(3, ge=1)
    bad_file_min_sites: int = Field(2, ge=1, description="same file failing at this many sites -> excluded")


class OutputSettings(BaseModel):
    retry_backoff_s: list[float] = Field(default_factory=lambda: [60.0, 300.0, 1800.0, 7200.0, 14400.0, 28800.0])
    give_up_after_s: float = Field(3 * 86400.0, gt=0)
    consolidation_rse: str | None = None
    archival_rse: str = "T1_XX_SiteB_Tape"


class LocalSite(BaseModel):
    name: str
    cores: int = Field(gt=0)
    memory_mb: int = Field(gt=0)
    slots: int = Field(1, gt=0)


_POOL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # a local pool name is a directory name


class EngineSettings(BaseModel):
    kind: Literal["local", "htcondor"] = "local"
    # HTCondor
    schedds: list[str] = Field(default_factory=list, description="schedd names; empty = ask the collector")
    collector: str | None = None
    schedd_policy: Literal["least_active", "round_robin"] = "least_active"
    # Added by many schedds (issue 15): per-schedd caps respected by both policies and both engines.
    schedd_max_dags: int | None = Field(
        None, gt=0, description="at most this many active DAGs per schedd (or local pool); None = no cap")
    schedd_max_jobs: int | None = Field(
        None, gt=0, description="no new DAG on a schedd with this many running + idle jobs; None = no cap")
    dagman_path: str | None = Field(None, description="condor_dagman for Submit.from_dag; None = from PATH")
    from_dag_timeout_s: float = Field(60.0, gt=0, description="limit on the Submit.from_dag subprocess")
    # Older spelling of [sites] backend = "cric" with cric_url (kept so existing config files still work):
    # when cric_url is set and [sites] is left local, Settings copies these five into [sites].
    cric_url: str | None = Field(None, description="e.g. https://cms-cric.cern.ch; None = use local_sites")
    cric_cert: str | None = Field(None, description="X.509 client certificate (PEM) for CRIC")
    cric_key: str | None = Field(None, description="its key; None = inside cric_cert")
    cric_ca: str | None = Field(None, description="CA file or directory; None = system CAs")
    cric_timeout_s: float = Field(30.0, gt=0)
    # Local pool
    pool_host: str = "127.0.0.1"
    pool_port: int = Field(0, ge=0, le=65535, description="0 = pick a free port")
    local_sites: list[LocalSite] = Field(
        default_factory=lambda: [
            LocalSite(name="T2_XX_SiteA", cores=4, memory_mb=8000, slots=1),
            LocalSite(name="T1_XX_SiteB", cores=2, memory_mb=4000, slots=1),
        ]
    )
    oversubscribe: float = Field(4.0, ge=1.0, description="how far tiny jobs may oversubscribe real cores")
    # Added by many schedds (issue 15): one pool daemon (schedd stand-in) per name; "local" keeps the
    # spool <home>/pool, any other name gets <home>/pools/<name>.  DAGs are placed by load (place_dag).
    local_pools: list[str] = Field(
        default_factory=lambda: ["local"], min_length=1,
        description="local pool names (each one daemon, its own spool and port); default one pool")
    restart_dead_pools: bool = Field(
        False, description="the lifecycle restarts a local pool daemon that died, as condor_master does")
    submit_interval_s: float = Field(0.0, ge=0, description="local DAGMan submit cycle")
    # Added by fast tests (issue 15): the local pool daemon's timers, in seconds (milliseconds allowed).
    # Process exits and commands wake the pool at once; these bound only the idle waits.
    loop_idle_wait_s: float = Field(0.25, gt=0, description="longest sleep of the pool's loop with nothing to do")
    periodic_interval_s: float = Field(
        1.0, gt=0, description="how often periodic_remove is evaluated (HTCondor PERIODIC_EXPR_INTERVAL: 60)")
    status_scan_s: float = Field(
        0.25, gt=0, description="status files are rewritten at most this often (DAGMan: the 5 s log scan)")
    server_poll_s: float = Field(0.5, gt=0, description="how soon the daemon's HTTP server notices a shutdown")
    spool_check_s: float = Field(5.0, gt=0, description="how often the daemon checks that its spool is its own")
    client_poll_s: float = Field(0.05, gt=0, description="a client's re-check while a daemon starts or stops")

    @field_validator("local_pools")
    @classmethod
    def _pool_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _POOL_NAME.fullmatch(name):
                raise ValueError(f"engine.local_pools: {name!r} is not a pool name (letters, digits, '_.-')")
        if len(set(names)) != len(names):
            raise ValueError(f"engine.local_pools: a name appears twice in {names}")
        return names


class SandboxSettings(BaseModel):
    stageout_mode: Literal["local", "test", "production"] = "local"
    lfn_prefix: str = "/store"


ApiRole = Literal["viewer", "requestor", "operator"]


class ApiSettings(BaseModel):
    """The operator HTTP interface (``wms2 serve``, design §10)."""

    host: str = Field("127.0.0.1", description="listen address; non-loopback needs TLS or trusted_proxies")
    port: int = Field(8350, ge=0, le=65535)
    trusted_proxies: list[str] = Field(default_factory=list, description="IPs/CIDRs allowed to forward a DN")
    dn_header: str = Field("X-SSL-Client-S-DN", description="header holding the client DN set by the proxy")
    dn_roles: dict[str, ApiRole] = Field(default_factory=dict, description="DN -> role")
    default_dn_role: ApiRole | None = Field(None, description="role of a proxied DN not in dn_roles; None = 401")
    jwt_issuer: str | None = Field(None, description="WLCG/OIDC issuer; None = no JWT validation")
    jwt_jwks_path: Path | None = Field(None, description="JWKS file with the issuer's signing keys")
    jwt_audience: str | None = None
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    jwt_role_claim: str = Field("wlcg.groups", description="claim listing groups (WLCG token profile)")
    jwt_roles: dict[str, ApiRole] = Field(default_factory=dict, description="group -> role (highest wins)")
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    default_page_size: int = Field(100, ge=1)
    max_page_size: int = Field(1000, ge=1)
    max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="request body limit (ReqMgr2 documents)")
    aggregate_cache_seconds: float = Field(
        1.0, ge=0, description="reuse aggregate views (/status, /admission/queue, metrics) and list pages"
        " (/requests, /workflows, /dags) this long; API writes clear them at once; 0 = never")
    worker_threads: int = Field(8, ge=1, description="threads running endpoints (fewer = less GIL contention)")
    session_seconds: float = Field(8 * 3600.0, gt=0, description="dashboard login lifetime (one operator shift)")
    dashboard_poll_seconds: float = Field(
        3.0, ge=0.5, description="how often dashboard pages re-read their (cheap, cached) endpoints")
    database_retry_after_s: int = Field(
        30, ge=1, description="Retry-After of a 503 when the database is unreachable (added by hardening)")


class ReqMgr2Settings(BaseModel):
    """ReqMgr2, the source of request documents imported by name (``wms2.services.reqmgr``)."""

    url: str = Field("https://cmsweb.cern.ch/reqmgr2/data", description="ReqMgr2 REST base (cms-formats.md §1.1)")
    cert_file: Path | None = Field(None, description="X.509 client certificate or RFC-3820 proxy (PEM)")
    key_file: Path | None = Field(None, description="its key; None = inside cert_file (a proxy)")
    ca_path: Path | None = Field(None, description="CA file or directory (/etc/grid-security/certificates);"
                                                  " None = system CAs")
    token_file: Path | None = Field(None, description="bearer token file, re-read at each call (never logged)")
    timeout_s: float = Field(30.0, gt=0, description="per HTTP attempt")
    max_response_bytes: int = Field(5 * 1024 * 1024, ge=1024,
                                    description="refuse larger answers (same limit as api.max_body_bytes)")
    retries: int = Field(2, ge=0, description="extra attempts after a 5xx or a connection failure")
    retry_backoff_s: float = Field(1.0, ge=0, description="wait before the first retry; doubles after each")
    # Live sync with ReqMgr2 (wms2.core.reqmgr_sync): pull assigned requests, push progress statuses.
    teams: list[str] = Field(default_factory=list,
                             description="ReqMgr2 teams this WMS2 instance serves; empty = no sync (WMAgent"
                                         " keeps every other team's requests)")
    sync_timeout_s: float = Field(10.0, gt=0, description="per HTTP call of the sync (no in-cycle retries)")
    sync_backoff_s: float = Field(5.0, ge=0, description="first wait after a failed push/pull; doubles")
    sync_backoff_max_s: float = Field(600.0, ge=0, description="longest wait between sync attempts")
    agent_dn: str = Field("/DC=ch/DC=cern/OU=computers/CN=wms2",
                          description="DN that WMS2 writes as (front-end headers in tests)")
    frontend_hmac_key_file: Path | None = Field(
        None, description="tests/trials only: sign cms-auth-* front-end headers with this HMAC key (as the"
                          " cmsweb front-end does); production uses cert_file/key_file")
    frontend_roles: dict[str, list[str]] = Field(
        default_factory=lambda: {"admin": ["reqmgr"]},
        description="roles sent in the signed front-end headers: role -> groups")


class ValidationSettings(BaseModel):
    """Physics validation (``wms2 validate``, issue 17): statistical comparison of two productions."""

    workers: int = Field(2, ge=1, le=256, description="processes reading files in parallel (1 = in-process)")
    chunk_mb: float = Field(32.0, gt=0, description="uproot step size: memory per worker is a few times this")
    task_mb: float = Field(64.0, gt=0, description="entry ranges of about this much data per pool task (a"
                           " worker maps at most this much of a file at once)")
    fine_bins: int = Field(1000, ge=10, le=100_000, description="common fine bins (KS resolution)")
    coarse_bins: int = Field(40, ge=2, le=1000, description="equal-content bins of the chi2 test and the plots")
    sample_size: int = Field(10_000, ge=100, description="values per branch and file kept to place the bins")
    tail_quantile: float = Field(0.0005, ge=0, lt=0.5, description="fine bins span [q, 1-q]; tails in 2 extra bins")
    ks_p_min: float = Field(1e-3, gt=0, lt=1, description="KS p-value below it: different")
    chi2_p_min: float = Field(1e-3, gt=0, lt=1, description="chi2 p-value below it: different")
    z_max: float = Field(5.0, gt=0, description="mean/width shift, event-count and NaN/inf-fraction pulls above it:"
                                                " different")
    max_plots: int = Field(200, ge=0, description="overlay plots in the HTML report (worst branches first)")


class CatalogSettings(BaseModel):
    """Where data management goes (issue 13): ``local`` = the embedded catalog and rule tables (default,
    needs no server); ``cms`` = the real clients: Rucio (``rucio-clients``) for replicas, blocks and rules,
    with the embedded file catalog standing in for DBS unless ``dbs_url`` is set."""

    backend: Literal["local", "cms"] = "local"
    rucio_url: str | None = Field(None, description="e.g. https://cms-rucio.cern.ch; required by backend=cms")
    rucio_auth_url: str | None = Field(None, description="e.g. https://cms-rucio-auth.cern.ch; None = rucio_url")
    rucio_account: str = Field("wms2", description="the Rucio account WMS2 acts as")
    rucio_auth_type: Literal["userpass", "x509", "x509_proxy", "oidc"] = "userpass"
    rucio_username: str | None = Field(None, description="userpass identity; None = the account name")
    rucio_password_file: Path | None = Field(None, description="file holding the userpass password (never logged)")
    rucio_cert: Path | None = Field(None, description="X.509 certificate or proxy (x509, x509_proxy)")
    rucio_key: Path | None = Field(None, description="its key; None = inside rucio_cert")
    rucio_ca: Path | None = Field(None, description="CA file or directory; None = system CAs")
    rucio_client_config: Path | None = Field(None, description="client-only rucio.cfg (exported as RUCIO_CONFIG)")
    rucio_scope: str = Field("cms", description="scope of central CMS data (cms-formats.md §4.2)")
    rucio_timeout_s: float = Field(60.0, gt=0, description="per HTTP call")
    rucio_retries: int = Field(2, ge=0, description="extra attempts after a 5xx or a connection failure")
    rucio_retry_backoff_s: float = Field(0.5, ge=0, description="wait before the first retry; doubles")
    rule_activity: str = Field("Production Output", description="activity of source and archival rules")
    consolidation_activity: str = Field("Data Consolidation", description="activity of consolidation rules")
    source_rule_lifetime_s: int | None = Field(
        14 * 86400, gt=0, description="source protection rules expire (then Rucio may delete the copy)")
    rule_priority: int = Field(3, ge=1, le=5, description="Rucio priority (WMCore: normal=3)")
    site_rses: dict[str, str] = Field(
        default_factory=dict, description="site -> disk RSE where it writes; default T0/T1: <site>_Disk, else <site>")
    dbs_url: str | None = Field(
        None, description="DBS3 reader base, e.g. https://cmsweb.cern.ch/dbs/prod/global/DBSReader; None = the"
        " embedded file catalog (inputs read from it, outputs written to it)")
    dbs_writer_url: str | None = Field(
        None, description="DBS3 writer base; None = dbs_url with its last path part DBSReader -> DBSWriter")
    dbs_cert: Path | None = Field(None, description="X.509 certificate or proxy for DBS (dbs3-client needs one)")
    dbs_key: Path | None = Field(None, description="its key; None = inside dbs_cert (a proxy)")
    dbs_ca_dir: Path | None = Field(
        None, description="CA directory exported as X509_CERT_DIR (dbs3-client requires one to exist);"
        " None = the environment's X509_CERT_DIR or /etc/grid-security/certificates")
    dbs_timeout_s: float = Field(300.0, gt=0, description="per HTTP call (a bulk block insert can take minutes)")
    dbs_retries: int = Field(2, ge=0, description="extra attempts after a 5xx or a connection failure")
    dbs_retry_backoff_s: float = Field(1.0, ge=0, description="wait before the first retry; doubles")
    dbs_dataset_access_type: Literal["VALID", "PRODUCTION"] = Field(
        "PRODUCTION", description="access type of new output datasets (WMAgent inserts PRODUCTION; both count"
        " as valid for readers)")
    dbs_physics_group: str = Field("NoGroup", description="physics_group_name of new output datasets")
    dbs_primary_ds_type: Literal["mc", "data", "cosmic", "test"] = Field(
        "mc", description="primary_ds_type of new primary datasets (dbs2go lexicon values)")


class SitesSettings(BaseModel):
    """Where the site catalog comes from (issue 13 item 5, ``wms2.services.cric``): ``local`` = the sites of
    ``engine.local_sites`` (default; ``engine.cric_url``, the older spelling, selects ``cric``);
    ``cric`` = CRIC's ``site-names`` and ``data-processing`` tables, read from ``cric_url`` or from the two
    local JSON files, used for the site list, whitelist checks, input locality (RSE -> processing sites)
    and the output RSE of each site.  Independent of
    ``[catalog] backend`` (the local Rucio server of the demo has no CRIC)."""

    backend: Literal["local", "cric"] = "local"
    cric_url: str | None = Field(None, description="e.g. https://cms-cric.cern.ch; None = the two files below")
    cric_site_names_file: Path | None = Field(None, description="JSON of preset=site-names (flattened or list)")
    cric_data_processing_file: Path | None = Field(None, description="JSON of preset=data-processing")
    cric_cert: Path | None = Field(None, description="X.509 client certificate or proxy (PEM) for CRIC")
    cric_key: Path | None = Field(None, description="its key; None = inside cric_cert")
    cric_ca: Path | None = Field(None, description="CA file or directory; None = system CAs")
    cric_token_file: Path | None = Field(None, description="file holding a bearer token (never logged)")
    cric_timeout_s: float = Field(30.0, gt=0, description="per HTTP call")
    cric_retries: int = Field(2, ge=0, le=10, description="extra attempts after a 5xx or a connection failure")
    cric_retry_backoff_s: float = Field(1.0, ge=0, description="wait before the first retry; doubles")
    cric_max_bytes: int = Field(
        16 * 1024 * 1024, gt=0, description="largest table accepted (real site-names: ~50 kB; 300x headroom)")
    cric_max_rows: int = Field(100_000, gt=0, description="most rows accepted per table (real: ~600)")
    cric_refresh_s: float = Field(3600.0, ge=0, description="how long a process reuses the tables it read")

    @model_validator(mode="after")
    def _cric_source(self) -> SitesSettings:
        files = (self.cric_site_names_file, self.cric_data_processing_file)
        if self.backend == "cric" and self.cric_url is None and None in files:
            raise ValueError('backend = "cric" needs cric_url, or both cric_site_names_file and'
                             " cric_data_processing_file")
        if self.cric_url is not None and any(f is not None for f in files):
            raise ValueError("set cric_url or the two cric_*_file paths, not both")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WMS2_", env_nested_delimiter="__", extra="forbid")

    home: Path = Field(default_factory=lambda: Path(DEFAULT_HOME))
    database_url: str | None = Field(None, description="default: sqlite under home")
    database_pool_size: int = Field(
        16, ge=1, le=1000, description="connections kept open: api.worker_threads + the lifecycle + headroom;"
        " beyond it connections are opened and closed per use (costly: SQLite sets WAL on each)")
    log_level: str = "INFO"

    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    ownership: OwnershipSettings = Field(default_factory=OwnershipSettings)
    admission: AdmissionSettings = Field(default_factory=AdmissionSettings)
    resources: ResourceSettings = Field(default_factory=ResourceSettings)
    planning: PlanningSettings = Field(default_factory=PlanningSettings)
    failures: FailureSettings = Field(default_factory=FailureSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    reqmgr2: ReqMgr2Settings = Field(default_factory=ReqMgr2Settings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    sites: SitesSettings = Field(default_factory=SitesSettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)

    @model_validator(mode="after")
    def _engine_cric_alias(self) -> Settings:
        eng = self.engine
        if eng.cric_url and self.sites.backend == "local":
            self.sites = SitesSettings(
                backend="cric", cric_url=eng.cric_url, cric_timeout_s=eng.cric_timeout_s,
                cric_cert=Path(eng.cric_cert) if eng.cric_cert else None,
                cric_key=Path(eng.cric_key) if eng.cric_key else None,
                cric_ca=Path(eng.cric_ca) if eng.cric_ca else None)
        return self

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, v: Path) -> Path:
        return v.expanduser().absolute()

    # Derived locations --------------------------------------------------------------------------
    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'wms2.db'}"

    @property
    def submit_base(self) -> Path:
        return self.home / "submit"

    @property
    def storage_root(self) -> Path:
        return self.home / "storage"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def pool_dir(self) -> Path:
        return self.home / "pool"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))


class _TomlSource(PydanticBaseSettingsSource):
    """Reads ``WMS2_CONFIG`` or ``<home>/wms2.toml`` when present."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("WMS2_CONFIG")
        if not path:
            home = Path(os.environ.get("WMS2_HOME", DEFAULT_HOME))
            candidate = home / "wms2.toml"
            path = str(candidate) if candidate.is_file() else ""
        if not path:
            return {}
        with open(path, "rb") as fh:
            return tomllib.load(fh)


def load_settings(home: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the settings; ``home`` wins over ``WMS2_HOME``."""
    if home is not None:
        os.environ["WMS2_HOME"] = str(home)
        overrides["home"] = Path(home)
    return Settings(**overrides)
