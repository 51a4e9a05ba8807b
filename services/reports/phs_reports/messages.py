"""The Kafka message of a report job (key: job id, header: the originating request id;
the requester's identity in the body, never a name or a token)."""

from __future__ import annotations

from phs.reports.v1 import jobs_pb2
from phs_runtime.context import REQUEST_ID_HEADER
from phs_runtime.outbox import OutboxMessage


def job_message(
    topic: str,
    job_id: str,
    publication: int,
    request_id: str | None,
    requester: tuple[str, str] = ("", ""),
) -> OutboxMessage:
    """`requester` is (subject, role) of whoever created the job."""
    return OutboxMessage(
        topic=topic,
        key=job_id,
        payload=jobs_pb2.ReportJobMessage(
            report=f"reports/{job_id}",
            publication=publication,
            requester=jobs_pb2.Requester(subject=requester[0], role=requester[1]),
        ).SerializeToString(),
        headers={
            REQUEST_ID_HEADER: request_id or "",
            "content-type": "application/x-protobuf",
            "message-type": jobs_pb2.ReportJobMessage.DESCRIPTOR.full_name,
        },
    )
