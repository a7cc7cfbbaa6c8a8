"""Execution engines: HTCondor (production) and the local DAGMan-compatible engine (embedded)."""
