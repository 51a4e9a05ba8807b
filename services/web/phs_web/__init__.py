"""The web app's static server: the built files of services/web (Vite's `dist/`) with
strict security headers, long-lived caching for hashed assets, an SPA fallback to
index.html, and `/config.json`, which tells the app its OpenID provider (the chart and
the devstack set it; the app has no inline script and no build-time settings).

Stdlib HTTP on purpose: it serves a handful of files behind Envoy, the same origin as
the API. See server.py for the rules and README ("The web app") for how it is served.
"""

SERVICE_NAME = "web"
