from phs_runtime.db import run_alembic_env
from phs_scheduling.tables import metadata

run_alembic_env(metadata)
