"""The operator HTTP interface: REST API under ``/api/v1`` (design §10)."""

from wms2.api.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
