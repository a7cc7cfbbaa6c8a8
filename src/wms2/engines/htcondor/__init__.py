"""The HTCondor engine: DAGMan jobs on real schedds through the ``htcondor2`` bindings."""

from wms2.engines.htcondor.bindings import CondorPool
from wms2.engines.htcondor.engine import HTCondorEngine
from wms2.engines.htcondor.from_dag import FromDagRunner, from_dag_options

__all__ = ["CondorPool", "FromDagRunner", "HTCondorEngine", "from_dag_options"]
