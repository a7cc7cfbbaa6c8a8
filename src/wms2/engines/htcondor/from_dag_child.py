"""Child process that runs ``htcondor2.Submit.from_dag`` (``python -m wms2.engines.htcondor.from_dag_child``).

Run by :mod:`wms2.engines.htcondor.from_dag` with the working directory set to the DAG's directory:
``from_dag`` resolves paths against the cwd, writes ``<dag>.condor.sub`` there, and on some internal
errors terminates the interpreter (reference §6.1), which must never take the service down.

Protocol: argument 1 is the DAG file name (relative to the cwd); the ``from_dag`` options come as a JSON
object on stdin.  The last line of stdout is a JSON object: ``{"ok": true, "submit": "<description>"}``
or ``{"ok": false, "error": "<message>"}``.  Exit status 0 on success, 1 on a refused DAG, 2 on a usage
error; any other status (e.g. 4 from an internal ``EXCEPT``) means the bindings aborted.
"""

from __future__ import annotations

import json
import sys
from typing import Any

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write("\n" + json.dumps(payload) + "\n")
    sys.stdout.flush()


def _read_options(text: str) -> dict[str, int | bool | str]:
    raw = json.loads(text) if text.strip() else {}
    if not isinstance(raw, dict):
        raise ValueError("options must be a JSON object")
    for key, value in raw.items():
        if not isinstance(value, (int, bool, str)):
            raise ValueError(f"option {key!r}: value {value!r} is not an int, bool or str")
    return raw


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        _emit({"ok": False, "error": "usage: from_dag_child DAG_FILE < options.json"})
        return EXIT_USAGE
    try:
        options = _read_options(sys.stdin.read())
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        _emit({"ok": False, "error": f"bad options: {exc}"})
        return EXIT_USAGE

    import htcondor2  # imported late: a broken installation is reported like any other failure

    try:
        submit = htcondor2.Submit.from_dag(args[0], options)
    except (htcondor2.HTCondorException, KeyError, TypeError, ValueError) as exc:
        _emit({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        return EXIT_REFUSED
    _emit({"ok": True, "submit": str(submit)})
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
