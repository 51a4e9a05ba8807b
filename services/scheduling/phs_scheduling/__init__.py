"""The scheduling service: psychologists, clients, session types and appointments."""

SERVICE_NAME = "phs.scheduling.v1.SchedulingService"
