"""``python -m wms2.cli``."""

from wms2.cli import main

main()
