"""The local execution engine: a DAGMan-compatible executor and a local pool daemon."""
