#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser tests (tests/web).  Idempotent: a fast no-op when
# /usr/bin/chromium is there.  Needs root (or sudo) on a fresh Debian machine; uses only Debian's mirrors.
set -euo pipefail
CHROMIUM=${WMS2_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
echo "Chromium is missing ($CHROMIUM): installing Debian's chromium package"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
if [ ! -x "$CHROMIUM" ]; then
  echo "ensure-chromium: $CHROMIUM still missing after apt-get install chromium" >&2
  exit 1
fi
"$CHROMIUM" --version
