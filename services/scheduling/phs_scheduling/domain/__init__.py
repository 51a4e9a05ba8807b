"""The scheduling rules, apart from gRPC and SQL: the appointment lifecycle, the
cancellation and client-request rules, series planning and slot computation. Its
failures are the exceptions of `errors`; `phs_scheduling.errors` maps them to
AIP-193 statuses in one place."""
