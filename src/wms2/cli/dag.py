"""`wms2 dag run|status|remove|hold|release`: run any DAG file on the local engine (the
``condor_submit_dag`` of the local world) and look at it; `wms2 dag nodes NAME`: a request's current DAG."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from wms2.cli.common import HomeOpt, JsonOpt, ServerOpt, TokenOpt, client, console, fail, print_json, settings_for
from wms2.dagman.dagman_out_reader import DagmanOutSummary, read_dagman_out
from wms2.dagman.model import DagSpec, NodeStatus
from wms2.dagman.parser import DagParseError, find_cycle, parse_dag
from wms2.dagman.status_file import read_status_file
from wms2.engines.base import BadDag, EngineError, SubmitOptions

if TYPE_CHECKING:
    from wms2.engines.local.client import PoolClient

dag_app = typer.Typer(help="Run and inspect DAG files on the local engine.", no_args_is_help=True)
DagArg = Annotated[Path, typer.Argument(help="DAG input file", exists=True, dir_okay=False)]
DEFAULT_WU_ROWS = 100  # the API's default page (api.default_page_size)
ClusterArg = Annotated[int, typer.Argument(help="cluster id of the DAGMan job")]
PoolOpt = Annotated[str | None, typer.Option(
    "--pool", help="the local pool holding the cluster (engine.local_pools; default: the first)")]


@dag_app.command("run")
def run(
    dag_file: DagArg,
    wait: Annotated[bool, typer.Option("--wait", help="wait for the DAG; exit with DAGMan's exit code")] = False,
    force: Annotated[bool, typer.Option("--force", help="rename old rescue DAGs to .old, start fresh")] = False,
    rescue: Annotated[int | None, typer.Option("--rescue", help="run from this rescue DAG number")] = None,
    priority: Annotated[int, typer.Option("--priority", help="added to every node's priority")] = 0,
    timeout: Annotated[float | None, typer.Option("--timeout", help="give up waiting after S seconds")] = None,
    load_save: Annotated[str | None, typer.Option("--load-save", help="start from this SAVE_POINT_FILE "
                                                  "(a bare name is looked up in save_files/)")] = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Submit DAG_FILE to the local pool (started if needed)."""
    from wms2.engines.local.client import LocalEngine, ensure_pool_running

    settings = settings_for(home)
    spec = _parse_or_exit(dag_file)
    if spec.reject is not None:
        raise _refuse([f"{spec.reject}: DAG file contains a REJECT command; DAGMan refuses to run it"])
    try:
        ensure_pool_running(settings)
        engine = LocalEngine(settings)
        result = engine.submit_dag(dag_file, SubmitOptions(rescue=rescue, force=force, priority=priority,
                                                           load_save=load_save))
    except BadDag as exc:
        raise fail(str(exc)) from exc
    except EngineError as exc:
        raise fail(str(exc)) from exc
    if not wait:
        if json_out:
            print_json({"cluster": result.cluster_id, "schedd": result.schedd})
        else:
            console.print(f"DAG submitted as cluster {result.cluster_id}")
        return
    try:
        info = engine.wait(result.cluster_id, timeout=timeout, schedd=result.schedd)
    except TimeoutError as exc:
        raise fail(str(exc)) from exc
    if json_out:
        print_json({"cluster": result.cluster_id, **asdict(info)})
    else:
        console.print(f"DAG cluster {result.cluster_id} exited with {info.exit_code}: {info.reason}")
    raise typer.Exit(int(info.exit_code or 0))


def _latest_cluster(client: PoolClient, dag_file: Path) -> dict[str, Any] | None:
    code, body = client.request("GET", "/list")
    dags = [d for d in body.get("dags", []) if d.get("dag_file") == str(dag_file) and d.get("parent") is None]
    return dags[-1] if code == 200 and dags else None


def _refuse(errors: list[str]) -> typer.Exit:
    """Parse errors go to standard error unwrapped, one ``FILE:LINE: reason`` per line."""
    for error in errors:
        typer.echo(error, err=True)
    return typer.Exit(1)


def _parse_or_exit(dag_file: Path) -> DagSpec:
    try:
        return parse_dag(dag_file)
    except DagParseError as exc:
        raise _refuse(exc.errors) from exc


def _defined_nodes(spec: DagSpec) -> list[dict[str, Any]]:
    """The node list of a DAG that has not run (status NOT_READY, or DONE when pre-marked)."""
    return [{"node": n.name, "status": int(NodeStatus.DONE if n.done else NodeStatus.NOT_READY),
             "details": "User defined as DONE" if n.done else "", "retry_count": 0, "kind": n.kind}
            for n in spec.nodes.values()]


def _describe(spec: DagSpec) -> dict[str, Any]:
    return {"services": list(spec.services), "splices": list(spec.splices), "final": spec.final,
            "provisioner": spec.provisioner, "reject": spec.reject, "cycle": find_cycle(spec),
            "notes": spec.notes}


def status_of(dag_file: Path, home: Path | None) -> dict[str, Any]:
    """Node statuses from the DAG's files (NODE_STATUS_FILE, else the pool, else dagman.out), or the
    node list of a DAG that has not started."""
    spec = parse_dag(dag_file)
    dag_file = spec.path
    out: dict[str, Any] = {"dag_file": str(dag_file), **_describe(spec)}
    out_file = Path(str(dag_file) + ".dagman.out")
    summary = read_dagman_out(out_file) if out_file.is_file() else None
    if summary is not None:
        out["dagman_out"] = asdict(summary)
    if spec.node_status_file and (spec.directory / spec.node_status_file).is_file():
        status = read_status_file(spec.directory / spec.node_status_file)
        out.update(source="node_status_file", state="finished" if status.next_update == 0 else "running",
                   dag_status=status.dag_status, note=status.dag_status_note,
                   counts=status.counts(), nodes=[asdict(n) for n in status.nodes])
        return out
    if _from_pool(out, dag_file, home):
        return out
    if summary is not None:
        out.update(source="dagman_out", state="finished" if summary.finished else "running",
                   exit_code=summary.exit_status, dag_status=summary.dag_status, counts=summary.counts,
                   nodes=_nodes_from_out(spec, summary))
        return out
    out.update(source="none", state="not started", nodes=_defined_nodes(spec))
    return out


def _nodes_from_out(spec: DagSpec, summary: DagmanOutSummary) -> list[dict[str, Any]]:
    """Node statuses as far as ``dagman.out`` tells them (it never says "node done" in so many words:
    a job that completed on a node without POST script, or any node of a finished DAG that did not
    fail, is done; in a DAG that finished with failures, nodes never started were futile)."""
    nodes = _defined_nodes(spec)
    failed_run = summary.finished and summary.exit_status not in (0, None)
    for node in nodes:
        name = node["node"]
        seen = summary.nodes.get(name)
        if name in summary.failed_nodes:
            node.update(status=int(NodeStatus.ERROR), details=summary.failed_nodes[name])
        elif seen is None:
            if failed_run and node["status"] != NodeStatus.DONE and name != spec.final:
                node.update(status=int(NodeStatus.FUTILE), details="Had an ancestor node fail")
        elif seen.status == "failed":
            node.update(status=int(NodeStatus.ERROR), details=seen.error)
        elif summary.finished or (seen.status == "job_done" and spec.nodes[name].post is None):
            node.update(status=int(NodeStatus.DONE), details="")
        else:
            node.update(status=int(NodeStatus.POSTRUN if seen.status == "post" else NodeStatus.SUBMITTED),
                        details=seen.error)
    return nodes


def _from_pool(out: dict[str, Any], dag_file: Path, home: Path | None) -> bool:
    from wms2.engines.local.client import PoolClient
    from wms2.engines.local.pools import pool_names, pool_spool

    settings = settings_for(home)
    found: list[tuple[float, PoolClient, dict[str, Any]]] = []
    for name in pool_names(settings):  # every configured pool: the DAG may run on any of them
        candidate = PoolClient(pool_spool(settings, name), settings.engine.pool_host, name)
        latest = _latest_cluster(candidate, dag_file) if candidate.ping() is not None else None
        if latest is not None:
            found.append((float(latest.get("start_time") or 0.0), candidate, latest))
    if not found:
        return False
    _start, client, record = max(found, key=lambda item: item[0])
    out["pool"] = client.name
    out.update(source="pool", cluster=record["cluster"], state=record["state"], exit_code=record["exit_code"],
               reason=record["reason"], counts=record["counters"])
    code, snap = client.request("GET", f"/nodes?cluster={record['cluster']}")
    if code == 200:
        out.update(dag_status=snap["dag_status"], note=snap["dag_status_note"], nodes=snap["nodes"])
    return True


@dag_app.command("status")
def status(dag_file: DagArg, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Print the node statuses of DAG_FILE."""
    try:
        data = status_of(dag_file, home)
    except DagParseError as exc:
        raise _refuse(exc.errors) from exc
    except EngineError as exc:
        raise fail(str(exc)) from exc
    if json_out:
        print_json(data)
        return
    console.print(f"{data['dag_file']}: {data.get('state', '')} {data.get('note', '')}".rstrip())
    for key, value in (data.get("counts") or {}).items():
        console.print(f"  {key} = {value}")
    for node in data.get("nodes", []):
        name = NodeStatus(node["status"]).name
        console.print(f"  {node['node']:<40} {name:<10} retries={node['retry_count']} {node['details']}")


def _act(action: str, cluster: int, home: Path | None, reason: str, pool: str | None) -> None:
    from wms2.engines.local.client import LocalEngine

    engine = LocalEngine(settings_for(home))
    name = pool or engine.client.name
    if name not in engine.pools:
        raise fail(f"--pool {name!r}: not a configured local pool (engine.local_pools = {list(engine.pools)})")
    try:
        getattr(engine, action)(cluster, name, *([reason] if action != "release" else []))
    except EngineError as exc:
        raise fail(str(exc)) from exc
    console.print(f"{action} sent to cluster {cluster} on pool {name}")


@dag_app.command("remove")
def remove(cluster: ClusterArg, home: HomeOpt = None, pool: PoolOpt = None) -> None:
    """Remove a DAG (rescue DAG first, then its jobs are killed; exit code 2)."""
    _act("remove", cluster, home, "removed from the command line", pool)


@dag_app.command("hold")
def hold(cluster: ClusterArg, home: HomeOpt = None, pool: PoolOpt = None) -> None:
    """Hold a DAG: no new scripts or submits; running jobs continue."""
    _act("hold", cluster, home, "held from the command line", pool)


@dag_app.command("release")
def release(cluster: ClusterArg, home: HomeOpt = None, pool: PoolOpt = None) -> None:
    """Release a held DAG."""
    _act("release", cluster, home, "", pool)


@dag_app.command("nodes")
def nodes(
    name: Annotated[str, typer.Argument(help="request name (its current DAG is shown)")],
    home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None, json_out: JsonOpt = False,
    limit: Annotated[int, typer.Option(min=1, help="work units shown")] = DEFAULT_WU_ROWS,
    offset: Annotated[int, typer.Option(min=0, help="work units skipped")] = 0,
    work_unit: Annotated[str | None, typer.Option("--work-unit", help="only this WU (mg_NNNNNN)")] = None,
) -> None:
    """Live per-node view of a request's current DAG (DAGMan's files): status, retries, site, last exit code."""
    with client(home, server, token) as c:
        data = c.dag_nodes(name, limit, offset, work_unit)
    if json_out:
        print_json(data)
        return
    console.print(f"DAG {data['dag_id']}: {data['dag_status'] or 'no status file yet'}  "
                  + " ".join(f"{k}={v}" for k, v in data["counts"].items()), highlight=False)
    table = Table("work unit / node", "role", "status", "retries", "site", "exit")
    for wu in data["work_units"]:
        table.add_row(wu["node"], wu["role"], wu["status"], str(wu["retries"]), wu["site"] or "",
                      "" if wu["exit_code"] is None else str(wu["exit_code"]))
        for n in wu["nodes"]:
            table.add_row("  " + n["node"], n["role"], n["status"], str(n["retries"]), n["site"] or "",
                          "" if n["exit_code"] is None else str(n["exit_code"]))
    console.print(table)
    shown = data["offset"] + len(data["work_units"])
    if shown < data["total"]:
        console.print(f"work units {data['offset'] + 1}-{shown} of {data['total']} (use --offset)")


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the main app."""
    app.add_typer(dag_app, name="dag")
