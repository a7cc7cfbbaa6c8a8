"""Create a fresh Rucio database: tables, the base VO and the root account (Rucio venv; RUCIO_CONFIG set).

What ``rucio/tools/bootstrap.py`` does, from the same library functions; run once per server home.
"""

from __future__ import annotations

from rucio.db.sqla.util import build_database, create_base_vo, create_root_account


def main() -> None:
    build_database()
    create_base_vo()
    create_root_account()


if __name__ == "__main__":
    main()
