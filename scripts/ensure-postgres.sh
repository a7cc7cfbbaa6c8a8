#!/usr/bin/env bash
# Start the machine's PostgreSQL cluster if it is not accepting connections (tests need it).
set -euo pipefail
host=${WMS2_PG_HOST:-127.0.0.1}
if pg_isready -q -h "$host" -p 5432 2>/dev/null; then
  exit 0
fi
echo "PostgreSQL is not running on $host:5432; starting it"
version=$(ls /etc/postgresql | sort -V | tail -n 1)
pg_ctlcluster --skip-systemctl-redirect "$version" main start
for _ in $(seq 1 30); do
  pg_isready -q -h "$host" -p 5432 && exit 0
  sleep 1
done
echo "PostgreSQL did not start" >&2
exit 1
