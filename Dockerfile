# syntax=docker/dockerfile:1
# Maillage image: one image for every process (web, worker, beat, migrations), run as a non-root user.
#
#   docker build -t maillage:local .
#
# Configuration comes from the environment at run time (see docker-compose.yml and README.md).

# --- Front-end assets, exactly as package-lock.json pins them ---------------------------------
FROM node:20-slim AS assets
WORKDIR /build
COPY package.json package-lock.json .npmrc ./
# npm creates no node_modules/ while the lock file lists no package: the runtime stage copies it.
RUN npm ci --no-audit --no-fund --loglevel=error && mkdir -p node_modules

# --- Runtime ------------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    VAR_DIR=/app/var

# The unprivileged account owns the virtualenv and var/ only; the code stays root-owned, so a
# compromised process cannot rewrite it.
RUN groupadd --system --gid 10001 maillage \
 && useradd --system --uid 10001 --gid maillage --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin maillage \
 && install -d -o maillage -g maillage /opt/venv /app/var /app/var/media /app/var/secrets

WORKDIR /app
USER maillage

# Dependencies first, so a code change does not reinstall them.
COPY requirements/base.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
 && pip install --require-hashes -r /tmp/requirements.txt

COPY --from=assets /build/node_modules /app/node_modules
COPY . /app

# Static files are part of the image (WhiteNoise serves them). Settings need a DATABASE_URL and a
# SECRET_KEY to import: throwaway values, never connected to nor used to sign anything.
RUN DEBUG=0 \
    SECRET_KEY=collectstatic-at-build-time-only-this-is-not-a-secret-key-0000 \
    DATABASE_URL=postgres://build@127.0.0.1:1/build \
    REDIS_URL=redis://127.0.0.1:1/0 \
    python manage.py collectstatic --noinput --verbosity 0

EXPOSE 8000
CMD ["gunicorn", "--config", "python:platform_core.gunicorn_conf", "platform_core.wsgi", \
     "--bind", "0.0.0.0:8000", "--worker-tmp-dir", "/dev/shm", "--no-control-socket"]
