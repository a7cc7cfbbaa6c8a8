"""CMS exit codes used by the worker-node code (cms-formats.md §7) and the POST script's exit codes."""

from __future__ import annotations

# cmsRun / framework (FrameworkError ExitStatus) -------------------------------------------------
GENERIC_CMS_EXCEPTION = 8001
BAD_ALLOC = 8004
FILE_OPEN_ERROR = 8020
FILE_READ_ERROR = 8021
EXCEEDED_RSS = 8031
FILE_WRITE_ERROR = 8033
# wrapper ----------------------------------------------------------------------------------------
INVALID_ARGUMENTS = 70
SCRAM_RUNTIME_FAILED = 73
NO_VALID_REPORT = 50115
WRAPPER_MEMORY_KILL = 50660
OUTPUT_NOT_FOUND = 60302
STAGEOUT_FAILURE = 60307
NO_OUTPUT_IN_REPORT = 60450
UNCAUGHT_EXCEPTION = 99109
NO_REPORT = 195
#: A process killed by signal N is reported as 128 + N (134 SIGABRT, 137 SIGKILL, 139 SIGSEGV).
SIGNAL_BASE = 128
#: Landing job: the slot's machine ad has no GLIDEIN_CMSSite (a site configuration problem).
NO_SITE_NAME = 10043

# DAGMan POST script exits (design §6.5) ---------------------------------------------------------
POST_SUCCESS = 0
POST_RETRY = 1
POST_PERMANENT = 42
POST_ABORT_WU = 43


def process_exit_status(code: int) -> int:
    """A CMS code as a process exit status (0-255).

    Codes above 255 cannot be a Unix exit status; the full code travels in the FJR and in the
    wrapper's report, which the POST script reads.  Never maps a failure to 0.
    """
    if 0 <= code <= 255:
        return code
    return code % 256 or 1


def signal_exit_code(signum: int) -> int:
    return SIGNAL_BASE + signum
