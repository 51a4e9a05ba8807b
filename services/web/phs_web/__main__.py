"""`python -m phs_web`: serve the built web app (settings from PHS_WEB_* variables)."""

from __future__ import annotations

from phs_web.server import main

if __name__ == "__main__":
    main()
