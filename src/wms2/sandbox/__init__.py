"""Worker-node side of WMS2: code that runs inside jobs or as DAGMan PRE/POST scripts.

Everything here is shipped as real files with each DAG and must only import the standard library,
msgspec, numpy/uproot and other modules of this package (never wms2.db, wms2.core, ..., nor pydantic).
"""
