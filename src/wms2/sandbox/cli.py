"""``wms2-job``: the single entry point of the worker-node code (jobs and DAGMan scripts).

wms2-job run --manifest manifest.json --node proc_000000     processing job
wms2-job merge --manifest manifest.json                      merge job
wms2-job cleanup --manifest manifest.json                    cleanup job
wms2-job land                                                landing job (site election)
wms2-job pre NODE                                            PRE script
wms2-job post NODE RETURN RETRY MAX_RETRIES                  POST script
"""

from __future__ import annotations

import sys

#: ``typing.TYPE_CHECKING`` without importing typing (a PRE script's process never needs it).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

#: Positional names of each command whose arguments are all positional.
_POSITIONALS: dict[str, tuple[str, ...]] = {
    "land": (),
    "pre": ("node",),
    "post": ("node", "ret", "retry", "max_retries"),
}
#: Options of each command whose arguments are all ``--option VALUE`` (in this order, as the DAG writes them).
_OPTIONS: dict[str, tuple[str, ...]] = {"run": ("manifest", "node"), "merge": ("manifest",), "cleanup": ("manifest",)}


def _plain(value: str) -> bool:
    """A token argparse takes as a value: not option-like (a negative number is a value here, since no
    option of this parser looks like one)."""
    return not value.startswith("-") or value[1:].isdecimal()


def _quick_args(argv: list[str]) -> dict[str, str] | None:
    """The arguments of a well-formed command line as the DAG and the submit files write them, without
    argparse: its import, and the shutil and locale imports its parsing makes, are a tenth of a PRE
    script's CPU (test-speed.md).  None for anything else (help, errors, ``--opt=v``, abbreviations),
    which :func:`_parser` then handles exactly as before."""
    if not argv:
        return None
    command, rest = argv[0], argv[1:]
    if command in _POSITIONALS:
        names = _POSITIONALS[command]
        if len(rest) != len(names) or not all(_plain(v) for v in rest):
            return None
        return {"command": command, **dict(zip(names, rest, strict=True))}
    names = _OPTIONS.get(command)
    if names is None or rest[::2] != [f"--{n}" for n in names] or not all(_plain(v) for v in rest[1::2]):
        return None
    return {"command": command, **dict(zip(names, rest[1::2], strict=True))}


def _parser() -> argparse.ArgumentParser:
    import argparse

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


def _import_msgspec_without_typing_extensions() -> None:
    """Import msgspec while ``typing_extensions`` cannot be imported, then lift the block.

    msgspec imports typing_extensions only for ``get_type_hints``, ``Required`` and ``NotRequired``, and
    falls back to :mod:`typing`'s, which Python 3.11 has, when that import fails.  typing_extensions
    imports :mod:`inspect` (ast, dis, tokenize, ...): a sixth of a POST, landing or cleanup process's CPU
    (test-speed.md).  Nothing is blocked when either module is already imported, nor after this call
    (uproot, which the merge may import later, needs typing_extensions)."""
    if "msgspec" in sys.modules or "typing_extensions" in sys.modules:
        return
    sys.modules["typing_extensions"] = None  # type: ignore[assignment]  # its import raises ImportError
    try:
        import msgspec  # noqa: F401
    finally:
        del sys.modules["typing_extensions"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _quick_args(argv) or vars(_parser().parse_args(argv))
    command = args["command"]
    if command != "pre":  # every other command reads or writes a contract document
        _import_msgspec_without_typing_extensions()
    if command == "run":
        from wms2.sandbox.wrapper import run_job

        return run_job(args["manifest"], args["node"])
    if command == "merge":
        from wms2.sandbox.merge import run_merge

        return run_merge(args["manifest"])
    if command == "cleanup":
        from wms2.sandbox.cleanup import run_cleanup

        return run_cleanup(args["manifest"])
    if command == "land":
        from wms2.sandbox.landing import land

        return land()
    if command == "pre":
        from wms2.sandbox.pre import run_pre

        return run_pre(args["node"])
    from wms2.sandbox.post import run_post

    return run_post(args["node"], args["ret"], args["retry"], args["max_retries"])


if __name__ == "__main__":
    sys.exit(main())
