"""What the notifications service talks to: its database, SMTP, SMS providers and
the scheduling service."""
