"""A tiny grpcurl for machines without it: calls any method through server
reflection, JSON in and out, exactly the path grpcurl takes.

    python -m phs_devstack.grpcurl 127.0.0.1:50051 list
    python -m phs_devstack.grpcurl -d '{"pageSize": 2}' 127.0.0.1:50051 \\
        phs.scheduling.v1.SchedulingService/ListPsychologists
"""

from __future__ import annotations

import argparse
import sys

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-d", "--data", default="{}", help="request as JSON")
    ap.add_argument("-H", "--header", action="append", default=[], help="metadata 'key: value'")
    ap.add_argument("target")
    ap.add_argument("method", help="'list' or package.Service/Method")
    ns = ap.parse_args(argv)
    with grpc.insecure_channel(ns.target) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        if ns.method == "list":
            print("\n".join(sorted(db.get_services())))
            return 0
        service_name, _, method_name = ns.method.partition("/")
        pool = descriptor_pool.DescriptorPool(db)
        method = pool.FindServiceByName(service_name).methods_by_name[method_name]
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
            response = call(request, metadata=metadata, timeout=30)
        except grpc.RpcError as err:
            print(f"ERROR: {err.code().name}: {err.details()}", file=sys.stderr)
            return 1
        print(json_format.MessageToJson(response, descriptor_pool=pool))
        return 0


if __name__ == "__main__":
    sys.exit(main())
