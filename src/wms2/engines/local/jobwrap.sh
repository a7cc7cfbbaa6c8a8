#!/bin/sh
# Runs one local-pool job and records its exit status in a file, so the pool daemon can recover the
# result after its own restart.  Usage: jobwrap.sh EXIT_FILE EXECUTABLE [ARGS...]
# (A write of a few bytes by a shell builtin: no extra process per job; readers ignore a partial line.)
exit_file="$1"
shift
"$@"
rc=$?
echo "$rc" > "$exit_file"
exit "$rc"
