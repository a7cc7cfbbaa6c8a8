"""WMS2: a thin orchestrator over HTCondor DAGMan for CMS central production."""

__version__ = "0.1.0"
