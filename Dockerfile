# The demo API image. Build context: the repository root.
#   docker build -t demo-api .
#   docker run IMAGE migrate        # apply migrations (the cluster runs this as a Job)
#   docker run -p 8000:8000 IMAGE   # serve: nginx in front of gunicorn (app/serve.py)
# PYTHON_IMAGE may be any Debian image with python3 and its venv module: the official slim image
# (python3 in /usr/local/bin) or Debian's own python3 (/usr/bin, built offline by
# scripts/python-base-image.sh). Builder and runtime must use the same one: the venv links to it.
ARG PYTHON_IMAGE=python:3.13-slim-trixie
# checkov:skip=CKV_DOCKER_7: both stages start FROM ${PYTHON_IMAGE}, whose default above is a pinned tag

FROM ${PYTHON_IMAGE} AS builder
# Standard pip variables, to build through a mirror or a TLS-intercepting proxy. Integrity does
# not rest on TLS: every package is checked against the hashes in requirements.txt.
ARG PIP_INDEX_URL=https://pypi.org/simple
# checkov:skip=CKV2_DOCKER_16: empty by default; set only where a proxy re-signs TLS, and --require-hashes still verifies every file
ARG PIP_TRUSTED_HOST=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DEFAULT_TIMEOUT=120
COPY app/requirements.txt /tmp/requirements.txt
# Binary wheels only: the runtime stage has no compiler, and psycopg2-binary ships its libpq.
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --only-binary=:all: --requirement /tmp/requirements.txt \
 && /opt/venv/bin/pip uninstall --yes pip

FROM ${PYTHON_IMAGE}
# nginx is the front server (app/serve.py): it holds slow and hostile clients so that gunicorn's
# workers never wait on one (docs/benchmark.md, "Slow clients"). Debian's package, so security
# fixes come with the base image's release; its default site and logs are never used.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /etc/nginx/sites-enabled/*
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=demo.settings
# A fixed numeric id, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY app/ /app/
# Static files are part of the image. The settings demand a secret key and a database even for
# this offline step; these placeholders exist only during this RUN and are never served.
RUN DJANGO_SECRET_KEY=collectstatic-placeholder DATABASE_URL=sqlite:///:memory: \
    python manage.py collectstatic --noinput --verbosity 0 \
 && python -m compileall -q /app /opt/venv \
 && chmod 0755 /app/docker-entrypoint.sh
USER 10001:10001
EXPOSE 8000
# curl is not in slim images; the interpreter is. Through nginx, over https when TLS is on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "/app/serve.py", "healthcheck"]
ENTRYPOINT ["/app/docker-entrypoint.sh"]
CMD ["web"]
