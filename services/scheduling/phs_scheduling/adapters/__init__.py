"""Storage behind repositories: one small repository per aggregate (psychologists,
clients, session types, appointments, availability, series), each over one database
connection, and the units of work that give them one (unit_of_work: a write
transaction, or a read-only one). Refusals are the domain's exceptions
(phs_scheduling.domain.errors); phs_scheduling.errors maps them to statuses."""
