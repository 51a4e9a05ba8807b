"""Refusals raised below gRPC reach the caller as the status they always had, and the
idempotency store stays free of gRPC."""

from __future__ import annotations

import ast
import inspect

import grpc

from phs_runtime.errors import ApiError, api_error, failed_precondition
from phs_runtime.idempotency import RequestIdReused
from phs_runtime.idempotency import store as idempotency_store
from phs_runtime.refusals import Refused


def test_a_reused_request_id_is_failed_precondition_with_its_reason() -> None:
    mapped = api_error(RequestIdReused("key-1"))
    assert mapped is not None
    assert mapped.code is grpc.StatusCode.FAILED_PRECONDITION
    assert mapped.reason == "IDEMPOTENCY_KEY_REUSED"
    assert mapped.metadata == {"request_id": "key-1"}


def test_an_api_error_is_itself_and_anything_else_is_no_answer() -> None:
    error = failed_precondition("SOME_REASON", "some message")
    assert api_error(error) is error
    assert api_error(ValueError("a bug")) is None
    # A refusal of no mapped kind is a fault of the code that raised it: INTERNAL.
    assert api_error(Refused("UNMAPPED", "no status for this kind")) is None
    assert not isinstance(RequestIdReused("k"), ApiError)


def test_the_idempotency_store_imports_no_grpc() -> None:
    tree = ast.parse(inspect.getsource(idempotency_store))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m == "grpc" or m.startswith(("grpc.", "grpc_"))}
    assert "phs_runtime.errors" not in imported
