"""The notifications service: confirmations and reminders by email, from the
appointment events the scheduling service publishes.

Layers: `domain` (what to send, when, and what it says: no gRPC, no SQL),
`adapters` (its database, SMTP, SMS, the scheduling service), `handlers` (the
gRPC preferences API and its policy), and the two loops that join them
(`consumer`: events into planned sends; `dispatcher`: due sends out).
"""

import phs_runtime  # noqa: F401 - first, before grpc: sets gRPC's log level default

SERVICE_NAME = "phs.notifications.v1.NotificationService"
