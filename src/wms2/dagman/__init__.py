"""DAGMan file formats: DAG input files, submit descriptions, node status files, metrics, rescue DAGs,
user event logs, ``dagman.out`` and the jobstate log.  Pure functions, reusable by all of WMS2."""
