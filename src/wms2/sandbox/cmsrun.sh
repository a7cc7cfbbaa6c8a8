#!/bin/bash
# Run one cmsRun step in a CMSSW release area (called by wms2.sandbox.cmsrun, possibly inside apptainer).
# usage: cmsrun.sh SCRAM_ARCH CMSSW_VERSION PSET FJR [cmsRun arguments...]
# Exit codes (cms-formats.md §7): 73 when the scram runtime cannot be set up, 50513 scram setup failure;
# otherwise cmsRun's own exit status.
set -u
if [ $# -lt 4 ]; then
    echo "usage: $0 SCRAM_ARCH CMSSW_VERSION PSET FJR [args...]" >&2
    exit 70
fi
export SCRAM_ARCH="$1"
CMSSW_VERSION="$2"
PSET="$3"
FJR="$4"
shift 4
CMS_ROOT="${WMS2_CMS_ROOT:-/cvmfs/cms.cern.ch}"
if [ ! -f "$CMS_ROOT/cmsset_default.sh" ]; then
    echo "cannot find $CMS_ROOT/cmsset_default.sh" >&2
    exit 50513
fi
# shellcheck disable=SC1091
. "$CMS_ROOT/cmsset_default.sh" || exit 50513
if [ ! -d "$CMSSW_VERSION" ]; then
    scram project CMSSW "$CMSSW_VERSION" || exit 50513
fi
cd "$CMSSW_VERSION/src" || exit 50513
eval "$(scram runtime -sh)" || exit 73
cd ../.. || exit 73
exec cmsRun -j "$FJR" "$PSET" "$@"
