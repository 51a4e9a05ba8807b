"""The report jobs' rules, apart from gRPC and SQL: a job's kinds and states, when
its file may be downloaded or it may be cancelled, and whose reports a requester
may have computed. Its failures are the exceptions of `errors`;
`phs_reports.errors` maps them to AIP-193 statuses in one place."""
