"""A catalog write the database refuses is a registration failure of one block, not of the cycle.

The embedded catalog and rule tables (``catalog_*``, ``local_rules``; the file catalog next to Rucio
with backend ``cms``) live in WMS2's own database, so the database itself can refuse the Output
Manager's writes: privileges revoked from WMS2's role, a constraint, a value it cannot store.  Such an
error used to escape the Output Manager and fail the whole request's evaluation every cycle (a
traceback each time, no alert, no backoff).  ``catalog_writes`` turns it into a ``RegistrationError``
so the Output Manager records it on the block, raises its alert and retries on its backoff schedule.

On PostgreSQL a failed statement aborts the whole transaction, so the block's catalog work runs in a
SAVEPOINT that is rolled back on a refusal (the lifecycle's other writes of the cycle survive).  SQLite
keeps the transaction usable after a failed statement, and a SAVEPOINT opened before pysqlite's own
BEGIN would end the outer transaction at its release, so none is used there.

Lost connections (``OperationalError``, ``InterfaceError``) are not refusals: they still reach the
lifecycle's database-outage handling.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import Session

from wms2.services.outputs import RegistrationError

REFUSALS = (ProgrammingError, IntegrityError, DataError)


def _describe(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"the catalog database refused the write: {type(orig).__name__}: {first}"


@contextlib.contextmanager
def catalog_writes(session: Session) -> Iterator[None]:
    nested = session.begin_nested() if session.get_bind().dialect.name == "postgresql" else None
    try:
        yield
    except REFUSALS as exc:
        if nested is not None and nested.is_active:
            nested.rollback()
        raise RegistrationError(_describe(exc)) from exc
    except BaseException:
        # anything else is handled as before by the caller (recorded on the block, or the cycle's own
        # error handling); what the block's calls did so far is kept, as without the savepoint
        if nested is not None and nested.is_active:
            with contextlib.suppress(SQLAlchemyError):  # a lost connection: the outage handling follows
                nested.commit()
        raise
    if nested is not None:
        nested.commit()
