# syntax=docker/dockerfile:1.7
# The development mail sink: `python -m phs_devstack.mailsink`, the SMTP server `make up`
# runs, for a cluster without a mail server (the chart's mailSink, on in values-dev.yaml).
# It accepts every message and keeps it as an .eml file; never for real mail. Build from
# the repository root:
#   docker build -f docker/mail-sink.Dockerfile -t phs-mail-sink:dev .
# Stages as in services/scheduling/Dockerfile (the base image tag must match it). The wheel
# holds the shared runtime (signal handling) and the sink's one module, not the rest of
# phs_devstack; the venv only aiosmtpd and its dependencies, at the pins `make up` uses
# (requirements-up.lock).
FROM python:3.11.14-slim-bookworm AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY docker/build-requirements.lock ./docker/
RUN pip install --no-deps -r docker/build-requirements.lock
COPY pyproject.toml ./
COPY services/runtime ./services/runtime
COPY tools/phs_devstack/mailsink.py ./tools/phs_devstack/
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.11.14-slim-bookworm AS venv
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
COPY requirements-up.lock /tmp/requirements-up.lock
# The project wheel declares every service's dependencies, so `pip check` would ask for
# them all; importing the sink instead proves the venv has what it needs.
RUN python -m venv /opt/venv \
 && grep -E '^(aiosmtpd|atpublic|attrs)==' /tmp/requirements-up.lock > /tmp/mail-sink-requirements.txt \
 && /opt/venv/bin/pip install --no-deps -r /tmp/mail-sink-requirements.txt
COPY --from=wheel /wheels /wheels
RUN /opt/venv/bin/pip install --no-deps /wheels/*.whl \
 && /opt/venv/bin/python -c "import phs_devstack.mailsink" \
 && /opt/venv/bin/pip uninstall --yes pip setuptools \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM python:3.11.14-slim-bookworm
LABEL org.opencontainers.image.title="phs-mail-sink" \
      org.opencontainers.image.description="PHS development SMTP sink: keeps every message as a file (never for real mail)"
RUN python -m pip uninstall --yes pip setuptools wheel \
 && groupadd --system --gid 10001 phs \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin phs \
 && mkdir -p /var/spool/phs-mail \
 && chown 10001:10001 /var/spool/phs-mail
COPY --from=venv /opt/venv /opt/venv
# The mail folder: the process's own for `docker run`; the chart mounts an emptyDir there.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PHS_MAIL_SINK_HOST=0.0.0.0 \
    PHS_MAIL_SINK_PORT=2525 \
    PHS_MAIL_SINK_DIR=/var/spool/phs-mail
WORKDIR /app
USER 10001:10001
EXPOSE 2525
# For `docker run` (Kubernetes uses the chart's TCP probes): the SMTP port accepts.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, socket; socket.create_connection(('127.0.0.1', int(os.environ.get('PHS_MAIL_SINK_PORT', '2525'))), 3).close()"]
CMD ["python", "-m", "phs_devstack.mailsink"]
