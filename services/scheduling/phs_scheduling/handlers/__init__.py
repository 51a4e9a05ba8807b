"""The SchedulingService's handlers, one module per resource. Each validates its
requests (names, validation), applies the domain's rules, calls the store and maps
rows to resources (mapping); domain refusals become statuses in phs_scheduling.errors.
phs_scheduling.service composes them into the servicer registered with gRPC."""
