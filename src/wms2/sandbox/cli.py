"""``wms2-job``: the single entry point of the worker-node code (jobs and DAGMan scripts).

wms2-job run --manifest manifest.json --node proc_000000     processing job
wms2-job merge --manifest manifest.json                      merge job
wms2-job cleanup --manifest manifest.json                    cleanup job
wms2-job land                                                landing job (site election)
wms2-job pre NODE                                            PRE script
wms2-job post NODE RETURN RETRY MAX_RETRIES                  POST script
"""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wms2-job", description="WMS2 worker-node commands")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a processing node's steps")
    run.add_argument("--manifest", required=True)
    run.add_argument("--node", required=True)
    for name in ("merge", "cleanup"):
        p = sub.add_parser(name, help=f"the work unit's {name} job")
        p.add_argument("--manifest", required=True)
    sub.add_parser("land", help="landing job: report GLIDEIN_CMSSite")
    pre = sub.add_parser("pre", help="PRE script: write <node>.override.sub")
    pre.add_argument("node")
    post = sub.add_parser("post", help="POST script: classify the attempt")
    post.add_argument("node")
    post.add_argument("ret", help="DAGMan $RETURN")
    post.add_argument("retry", help="DAGMan $RETRY")
    post.add_argument("max_retries", help="DAGMan $MAX_RETRIES")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        from wms2.sandbox.wrapper import run_job

        return run_job(args.manifest, args.node)
    if args.command == "merge":
        from wms2.sandbox.merge import run_merge

        return run_merge(args.manifest)
    if args.command == "cleanup":
        from wms2.sandbox.cleanup import run_cleanup

        return run_cleanup(args.manifest)
    if args.command == "land":
        from wms2.sandbox.landing import land

        return land()
    if args.command == "pre":
        from wms2.sandbox.pre import run_pre

        return run_pre(args.node)
    from wms2.sandbox.post import run_post

    return run_post(args.node, args.ret, args.retry, args.max_retries)


if __name__ == "__main__":
    sys.exit(main())
