"""Notification rules, free of gRPC and SQL: which messages an appointment change
calls for (`rules`), what they say (`messages`) and their calendar part (`ics`)."""
