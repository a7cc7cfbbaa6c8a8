"""Physics validation: statistical comparison of two productions' ROOT files (``wms2 validate``).

Public API: :func:`wms2.validation.compare.compare` (two :class:`SideInput`; its own module, so that
importing this package does not pull in scipy), :func:`from_files` / :func:`from_request` to build
the sides, :func:`render_html` for the self-contained report, :class:`ValidationResult` (JSON contract).
"""

from wms2.validation.inputs import FILES_GROUP, SideInput, from_files, from_request, looks_like_request
from wms2.validation.model import BranchResult, ValidationError, ValidationResult

__all__ = [
    "FILES_GROUP",
    "BranchResult",
    "SideInput",
    "ValidationError",
    "ValidationResult",
    "from_files",
    "from_request",
    "looks_like_request",
]
