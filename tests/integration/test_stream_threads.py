"""Streaming calls run on threads of their own (GrpcProcess's stream pool): a long
stream (an export read by a report worker, a health watch) never holds a thread that
unary calls such as bookings need. Before, three open health watches took every
thread of a scheduling process and froze its bookings."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from phs_devstack import free_port
from phs_runtime.config import ServerConfig
from phs_runtime.server import GrpcProcess

SERVICE = "test.Threads"


class _Servicer:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.threads: dict[str, list[str]] = {"Hold": [], "Echo": []}

    def hold(self, request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        """A stream that stays open until the test releases it."""
        self.threads["Hold"].append(threading.current_thread().name)
        yield b"open"
        self.release.wait(10)
        yield b"closed"

    def echo(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self.threads["Echo"].append(threading.current_thread().name)
        return request

    def add(self, server: grpc.Server) -> None:
        handler: Any = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Hold": grpc.unary_stream_rpc_method_handler(self.hold),
                "Echo": grpc.unary_unary_rpc_method_handler(self.echo),
            },
        )
        server.add_generic_rpc_handlers((handler,))


@pytest.fixture
def served() -> Iterator[tuple[_Servicer, grpc.Channel]]:
    servicer = _Servicer()
    config = dataclasses.replace(
        ServerConfig.from_env("threads-test"),
        bind_host="127.0.0.1",
        grpc_port=0,
        metrics_port=free_port(),
        max_workers=1,  # one thread for unary calls, one for streams
        max_streams=1,
        shutdown_grace_s=1.0,
    )
    process = GrpcProcess(config, [SERVICE], servicer.add, {})
    process.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{process.bound_port}")
    try:
        yield servicer, channel
    finally:
        servicer.release.set()
        channel.close()
        process.stop()


def test_unary_calls_answer_while_a_stream_holds_its_thread(served: tuple[_Servicer, grpc.Channel]) -> None:
    servicer, channel = served
    hold = channel.unary_stream(f"/{SERVICE}/Hold", None, None)
    echo = channel.unary_unary(f"/{SERVICE}/Echo", None, None)
    first = iter(hold(b""))
    assert next(first) == b"open"  # the stream now holds a thread
    # With one thread for everything, this call would wait for the stream to end.
    assert echo(b"ping", timeout=5) == b"ping"
    # The stream pool's one thread is taken: a second stream waits for its turn.
    second = iter(hold(b"", timeout=10))
    with futures.ThreadPoolExecutor(1) as reader:
        opened = reader.submit(lambda: next(second))
        with pytest.raises(futures.TimeoutError):
            opened.result(timeout=0.5)
        assert len(servicer.threads["Hold"]) == 1
        servicer.release.set()
        assert list(first) == [b"closed"]
        assert opened.result(timeout=5) == b"open"
    assert list(second) == [b"closed"]
    assert all(name.startswith("stream") for name in servicer.threads["Hold"]), servicer.threads
    assert all(name.startswith("rpc") for name in servicer.threads["Echo"]), servicer.threads
