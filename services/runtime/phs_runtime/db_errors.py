"""What a storage failure means to a gRPC caller: the errors step's mapper for
SQLAlchemy (phs_runtime.pipeline.errors knows no storage library)."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError

from phs_runtime.errors import ApiError, unavailable

log = logging.getLogger("phs.rpc")


def database_unavailable(exc: BaseException, method: str) -> ApiError | None:
    """The database is unreachable: UNAVAILABLE, worth a retry."""
    if not isinstance(exc, OperationalError):
        return None
    log.warning("database unavailable", extra={"grpc_method": method})
    return unavailable("DATABASE_UNAVAILABLE", "database unavailable")
