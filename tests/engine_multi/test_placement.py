"""``place_dag``: the placement rule as a pure function (no daemon), with a hypothesis property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wms2.engines.base import ScheddsFull, ScheddUnreachable
from wms2.engines.placement import ScheddCaps, ScheddLoad, place_dag


def test_fewest_dags_first_then_fewest_jobs_then_order() -> None:
    loads = [ScheddLoad("s1", 3, 0), ScheddLoad("s2", 1, 500), ScheddLoad("s3", 1, 20), ScheddLoad("s4", 1, 20)]
    assert place_dag(loads, ScheddCaps()) == "s3"
    assert place_dag(loads[:2], ScheddCaps()) == "s2"
    assert place_dag([ScheddLoad("x", 0), ScheddLoad("y", 0)], ScheddCaps()) == "x"


def test_dag_cap_skips_full_schedds() -> None:
    loads = [ScheddLoad("s1", 2, 0), ScheddLoad("s2", 5, 0), ScheddLoad("s3", 4, 0)]
    assert place_dag(loads, ScheddCaps(max_dags=5)) == "s1"
    assert place_dag(loads[1:], ScheddCaps(max_dags=5)) == "s3"


def test_job_cap_skips_busy_schedds() -> None:
    loads = [ScheddLoad("s1", 0, 1000), ScheddLoad("s2", 3, 10)]
    assert place_dag(loads, ScheddCaps(max_jobs=1000)) == "s2"
    assert place_dag(loads, ScheddCaps(max_jobs=1001)) == "s1"


def test_all_full_is_not_unreachable() -> None:
    loads = [ScheddLoad("s1", 2, 0), ScheddLoad("s2", 2, 7)]
    with pytest.raises(ScheddsFull, match=r"s1: 2/2 DAGs, 0 jobs; s2: 2/2 DAGs, 7 jobs"):
        place_dag(loads, ScheddCaps(max_dags=2))


def test_none_answered_names_why() -> None:
    with pytest.raises(ScheddUnreachable, match="no schedd answered: schedd s1 down; schedd s2 down"):
        place_dag([], ScheddCaps(), {"s1": "schedd s1 down", "s2": "schedd s2 down"})
    with pytest.raises(ScheddUnreachable, match="no schedd configured"):
        place_dag([], ScheddCaps())


loads_strategy = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 50)), min_size=1, max_size=6)
caps_strategy = st.tuples(st.none() | st.integers(1, 6), st.none() | st.integers(1, 50))


@given(loads_strategy, caps_strategy)
def test_choice_is_admitted_and_least_loaded(raw: list[tuple[int, int]],
                                             caps_raw: tuple[int | None, int | None]) -> None:
    loads = [ScheddLoad(f"s{i}", dags, jobs) for i, (dags, jobs) in enumerate(raw)]
    caps = ScheddCaps(*caps_raw)
    admitted = [load for load in loads if caps.admits(load)]
    if not admitted:
        with pytest.raises(ScheddsFull):
            place_dag(loads, caps)
        return
    chosen = next(load for load in loads if load.name == place_dag(loads, caps))
    assert caps.admits(chosen)
    assert all((chosen.dags, chosen.jobs) <= (other.dags, other.jobs) for other in admitted)
    # among equals, the earliest in the configured order
    first_equal = next(load for load in admitted if (load.dags, load.jobs) == (chosen.dags, chosen.jobs))
    assert chosen is first_equal


@given(st.lists(st.integers(0, 5), min_size=1, max_size=5), st.integers(1, 5), st.integers(1, 30))
def test_repeated_placement_fills_evenly_and_never_over_the_cap(start: list[int], cap: int, dags: int) -> None:
    """Placing DAGs one after another (each counted where it went) keeps every schedd at or under the
    cap it had room for, and the spread even: no schedd below the cap gets a DAG while another has fewer."""
    counts = dict(enumerate(start))
    for _ in range(dags):
        loads = [ScheddLoad(str(i), n) for i, n in counts.items()]
        try:
            chosen = int(place_dag(loads, ScheddCaps(max_dags=cap)))
        except ScheddsFull:
            assert all(n >= cap for n in counts.values())
            break
        assert counts[chosen] < cap
        assert counts[chosen] == min(n for n in counts.values() if n < cap)
        counts[chosen] += 1
    for i, n in counts.items():
        assert n <= max(cap, start[i])
