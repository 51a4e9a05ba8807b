"""`python -m phs_devstack.token`: mint a development token with the local dev key
that `make up` created (data/dev-keys). For local use only: production tokens come
from the practice's identity provider.

    TOKEN=$(.venv/bin/python -m phs_devstack.token --role admin --subject staff/alice)
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/psychologists
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

from phs_devstack import DEV_KID, REPO, dev_token
from phs_runtime.auth import PSYCHOLOGIST, ROLES


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", required=True, choices=sorted(ROLES - {"service"}))
    ap.add_argument(
        "--subject",
        required=True,
        help="psychologists/{id} for a psychologist, clients/{id} for a client, any id for an admin",
    )
    ap.add_argument("--hours", type=float, default=8.0, help="validity (default 8 hours)")
    ap.add_argument("--data", type=Path, default=REPO / "data", help="the make-up data folder")
    ns = ap.parse_args(argv)
    collection = {PSYCHOLOGIST: "psychologists/", "client": "clients/"}.get(ns.role)
    if collection and not ns.subject.startswith(collection):
        ap.error(f"a {ns.role} subject looks like {collection}{{id}}")
    # PHS_DEV_KEYS: where the stack keeps its key when not under --data (as Stack reads it).
    keys = Path(os.environ.get("PHS_DEV_KEYS") or ns.data / "dev-keys")
    if not (keys / f"{DEV_KID}.pem").exists():
        ap.error(f"no dev key in {keys}: run `make up` once first")
    print(dev_token(keys, ns.subject, ns.role, dt.timedelta(hours=ns.hours)))


if __name__ == "__main__":
    main()
