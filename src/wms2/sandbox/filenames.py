"""Names of the files the worker-node code leaves in the work-unit directory.

Kept apart from :mod:`wms2.sandbox.results` (which re-exports them) so that the scripts that only
need a file name, such as the PRE script, do not import the contract models and msgspec: every DAGMan
PRE/POST script is a new Python process, and imports are most of its start-up CPU
(docs/design-notes/test-speed.md).
"""

from __future__ import annotations

MERGE_OUTPUT_FILE = "merge_output.json"
WORK_UNIT_METRICS_FILE = "work_unit_metrics.json"
ELECTED_SITE_FILE = "elected_site"
POST_SUFFIX = ".post.json"
