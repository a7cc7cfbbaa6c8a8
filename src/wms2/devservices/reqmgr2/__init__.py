"""A real local ReqMgr2 (WMCore's server from PyPI, on pouchdb-server) for tests and trials."""
