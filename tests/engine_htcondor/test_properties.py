"""Property tests of the pure mappings (options, ClassAd → typed views)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wms2.engines.base import DagJobState, SubmitOptions
from wms2.engines.htcondor.ads import DAG_COUNTER_ATTRIBUTES, exit_info_from_history_ad, job_info_from_queue_ad
from wms2.engines.htcondor.from_dag import from_dag_options

small = st.integers(min_value=0, max_value=10_000)

options = st.builds(
    SubmitOptions,
    rescue=st.none() | small,
    force=st.booleans(),
    priority=st.integers(min_value=-1000, max_value=1000),
    batch_name=st.none() | st.text(alphabet="abc-_0123", min_size=1, max_size=12),
    max_idle=st.none() | small,
    max_jobs=st.none() | small,
).filter(lambda o: not (o.force and o.rescue))


@given(options)
def test_option_mapping_is_complete_and_consistent(opts: SubmitOptions) -> None:
    out = from_dag_options(opts)
    assert ("force" in out) is opts.force and ("update_submit" in out) is (not opts.force)
    assert out.get("DoRescueFrom") == (opts.rescue if opts.rescue else None)
    assert ("AutoRescue" in out) is (opts.rescue == 0)
    assert out.get("maxidle") == opts.max_idle and out.get("maxjobs") == opts.max_jobs
    assert out.get("priority", 0) == opts.priority
    assert out.get("batch-name") == opts.batch_name
    assert all(isinstance(v, (int, bool, str)) for v in out.values())


counters = st.dictionaries(st.sampled_from(DAG_COUNTER_ATTRIBUTES), small)
noise = st.dictionaries(st.sampled_from(["Owner", "Cmd", "DAG_Stats", "Foo"]), st.text(max_size=5))


@given(st.integers(min_value=1, max_value=7), counters, noise)
def test_queue_ad_counters_are_exactly_the_dag_integers(status: int, values: dict[str, int], other: dict) -> None:
    info = job_info_from_queue_ad({"JobStatus": status, **values, **other}, 5, "s")
    assert info.counters == values
    assert info.state is not DagJobState.gone


@given(st.integers(min_value=0, max_value=255), st.sampled_from([3, 4]), st.integers(min_value=0, max_value=6))
def test_exit_info_keeps_the_exit_code(code: int, job_status: int, dag_status: int) -> None:
    info = exit_info_from_history_ad({"ExitCode": code, "JobStatus": job_status, "DAG_Status": dag_status}, 1, "s")
    assert info.exit_code == code
    assert info.removed is (job_status == 3)
    assert f"exited {code} " in info.reason
