"""A tiny grpcurl for machines without it: calls any method through server
reflection, JSON in and out, exactly the path grpcurl takes. It takes grpcurl's
arguments for what it does (`-plaintext` is accepted and changes nothing: it only
speaks plaintext, like the local stack).

    python -m phs_devstack.grpcurl -plaintext 127.0.0.1:50051 list
    python -m phs_devstack.grpcurl -plaintext -d '{"pageSize": 2}' 127.0.0.1:50051 \\
        phs.scheduling.v1.SchedulingService/ListPsychologists
"""

from __future__ import annotations

import argparse
import sys

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase


def _parser() -> argparse.ArgumentParser:
    # grpcurl's flags are Go-style: one dash, long names (two dashes work too).
    ap = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    ap.add_argument("-plaintext", "--plaintext", action="store_true", help="accepted; always plaintext")
    ap.add_argument("-d", "--d", dest="data", default="{}", help="request as JSON; '@' reads stdin")
    ap.add_argument(
        "-H",
        "--H",
        "-rpc-header",
        "--rpc-header",
        dest="header",
        action="append",
        default=[],
        help="metadata 'key: value' (repeatable)",
    )
    ap.add_argument("-max-time", "--max-time", dest="max_time", type=float, default=30.0, help="seconds")
    ap.add_argument(
        "-emit-defaults",
        "--emit-defaults",
        dest="emit_defaults",
        action="store_true",
        help="print fields that have their default value",
    )
    ap.add_argument("target")
    ap.add_argument("method", help="'list' or package.Service/Method (or package.Service.Method)")
    ap.add_argument("service", nargs="?", help="with 'list': that service's methods")
    return ap


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    if ns.data == "@":
        ns.data = sys.stdin.read()
    with grpc.insecure_channel(ns.target) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        pool = descriptor_pool.DescriptorPool(db)
        if ns.method == "list":
            if ns.service:
                methods = pool.FindServiceByName(ns.service).methods
                print("\n".join(f"{ns.service}.{m.name}" for m in methods))
            else:
                print("\n".join(sorted(db.get_services())))
            return 0
        service_name, _, method_name = ns.method.replace("/", ".").rpartition(".")
        try:
            method = pool.FindServiceByName(service_name).methods_by_name[method_name]
        except KeyError:
            print(f"ERROR: no method {service_name}/{method_name} at {ns.target}", file=sys.stderr)
            return 1
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)
        request = json_format.Parse(ns.data, request_cls())
        metadata: tuple[tuple[str, str | bytes], ...] = tuple(
            (k.strip().lower(), v.strip()) for k, _, v in (h.partition(":") for h in ns.header)
        )
        call = channel.unary_unary(
            f"/{service_name}/{method_name}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_cls.FromString,
        )
        try:
            response = call(request, metadata=metadata, timeout=ns.max_time)
        except grpc.RpcError as err:
            print(f"ERROR: {err.code().name}: {err.details()}", file=sys.stderr)
            return 1
        print(
            json_format.MessageToJson(
                response, descriptor_pool=pool, always_print_fields_with_no_presence=ns.emit_defaults
            )
        )
        return 0


if __name__ == "__main__":
    sys.exit(main())
