"""The reports service: an API that accepts report jobs and workers that compute them."""

SERVICE_NAME = "phs.reports.v1.ReportService"
WORKER_HEALTH_NAME = "phs.reports.v1.ReportWorker"
