"""Files run by the Rucio server's own interpreter (its venv), never imported by WMS2 itself.

``wms2_rucio_wsgi``: the WSGI entry point given to gunicorn; ``wms2_rucio_bootstrap``: creates the
database, the base VO and the root account; ``WMS2RucioPolicy``: the project's CMS-like policy package.
"""
