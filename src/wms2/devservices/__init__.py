"""Development servers the project starts itself (a real Rucio server from PyPI, in its own venv)."""
