"""How a service's domain refusals become AIP-193 statuses: each service keeps one
table (exception class -> the ApiError it becomes; phs_scheduling.errors,
phs_reports.errors) and this module does the rest. Rules and storage raise plain
exceptions (phs_runtime.refusals.Refused subclasses) and know nothing of gRPC;
a servicer's handlers go through `handlers`/`aip193`, and code outside a handler
that meets a refusal (a policy check reading the store) uses `translated`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import grpc

from phs_runtime.errors import ApiError
from phs_runtime.refusals import Refused

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)

# A refusal of one kind to its status (the argument is an instance of that kind).
Rule = Callable[[Any], ApiError]


def coded(code: grpc.StatusCode) -> Rule:
    """The status `code` with the refusal's own reason, message and metadata."""

    def rule(e: Refused) -> ApiError:
        return ApiError(code, e.message, e.reason, e.metadata)

    return rule


class ErrorTable:
    """One service's refusals (subclasses of `base`) and the status of each kind: the
    rule of the nearest class in the exception's MRO."""

    def __init__(self, base: type[Exception], rules: Mapping[type[Exception], Rule]) -> None:
        self.base = base
        self.rules = dict(rules)

    def to_api_error(self, e: Exception) -> ApiError:
        """The status for a domain exception; TypeError for a kind the table lacks (a
        bug: the interceptor answers it INTERNAL)."""
        for kind in type(e).__mro__:
            rule = self.rules.get(kind)
            if rule is not None:
                return rule(e)
        raise TypeError(f"no status for {type(e).__name__}")

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Domain exceptions raised inside become their ApiError."""
        try:
            yield
        except self.base as e:
            raise self.to_api_error(e) from None

    def aip193(self, fn: F) -> F:
        """A handler (unary or streaming) whose domain exceptions become ApiErrors."""
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
                with self.translated():
                    yield from fn(*args, **kwargs)

            return cast(F, stream)

        @functools.wraps(fn)
        def unary(*args: Any, **kwargs: Any) -> Any:
            with self.translated():
                return fn(*args, **kwargs)

        return cast(F, unary)

    def handlers(self, cls: C) -> C:
        """Every RPC handler of a servicer class (its CamelCase methods) through `aip193`."""
        for name, member in list(vars(cls).items()):
            if name[:1].isupper() and inspect.isfunction(member):
                setattr(cls, name, self.aip193(member))
        return cls
