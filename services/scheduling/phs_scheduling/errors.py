"""The one place where the domain's refusals become AIP-193 statuses: each domain
exception keeps its reason code; this module picks the gRPC code and the details
(ResourceInfo, BadRequest field violations, PreconditionFailure)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from google.rpc import error_details_pb2

from phs_runtime.errors import (
    ApiError,
    aborted,
    already_exists,
    failed_precondition,
    invalid_argument,
    not_found,
)
from phs_scheduling.domain.errors import (
    Aborted,
    Conflict,
    DomainError,
    InvalidField,
    NotFound,
    Precondition,
    SlotConflict,
)

F = TypeVar("F", bound=Callable[..., Any])

SLOT_UNAVAILABLE_MESSAGE = "the psychologist already has an appointment at that time (buffers included)"


def to_api_error(e: DomainError) -> ApiError:
    """The status for a domain exception."""
    if isinstance(e, NotFound):
        return not_found(e.resource_type, e.name)
    if isinstance(e, InvalidField):
        return invalid_argument(e.violations)
    if isinstance(e, Precondition):
        return failed_precondition(e.reason, e.message, e.metadata)
    if isinstance(e, Conflict):
        details = []
        if e.violations:
            details.append(
                error_details_pb2.PreconditionFailure(
                    violations=[
                        error_details_pb2.PreconditionFailure.Violation(type=t, subject=s)
                        for t, s in e.violations
                    ]
                )
            )
        return already_exists(e.reason, e.message, e.metadata, details=details)
    if isinstance(e, Aborted):
        return aborted(e.reason, e.message, e.metadata)
    if isinstance(e, SlotConflict):  # callers add what they know; this is the bare answer
        return already_exists("SLOT_UNAVAILABLE", SLOT_UNAVAILABLE_MESSAGE)
    raise TypeError(f"no status for {type(e).__name__}")


@contextmanager
def translated() -> Iterator[None]:
    """Domain exceptions raised inside become their ApiError."""
    try:
        yield
    except DomainError as e:
        raise to_api_error(e) from None


def aip193(fn: F) -> F:
    """A handler (unary or streaming) whose domain exceptions become ApiErrors."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with translated():
                yield from fn(*args, **kwargs)

        return cast(F, stream)

    @functools.wraps(fn)
    def unary(*args: Any, **kwargs: Any) -> Any:
        with translated():
            return fn(*args, **kwargs)

    return cast(F, unary)


C = TypeVar("C", bound=type)


def aip193_handlers(cls: C) -> C:
    """Every RPC handler of a servicer class (its CamelCase methods) through `aip193`."""
    for name, member in list(vars(cls).items()):
        if name[:1].isupper() and inspect.isfunction(member):
            setattr(cls, name, aip193(member))
    return cls
