"""The Request Lifecycle Manager and the stateless workers it calls."""
