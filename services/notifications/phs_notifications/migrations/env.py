from phs_notifications.adapters.tables import metadata
from phs_runtime.db import run_alembic_env

run_alembic_env(metadata)
