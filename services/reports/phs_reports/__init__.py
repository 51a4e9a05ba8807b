"""The reports service: an API that accepts report jobs and workers that compute them."""

import phs_runtime  # noqa: F401 - first, before grpc: sets gRPC's log level default

SERVICE_NAME = "phs.reports.v1.ReportService"
WORKER_HEALTH_NAME = "phs.reports.v1.ReportWorker"
