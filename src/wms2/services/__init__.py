"""Adapters to outside services (catalog, replicas, request source, sites): interface + real + local."""
