# syntax=docker/dockerfile:1
# One image for every process of tsunagi (web, clock, worker, release); see docs/operations.md.
#
#   docker build -t tsunagi .
#   docker run --env-file tsunagi.env tsunagi                                  # web (the default)
#   docker run --env-file tsunagi.env tsunagi flask --app app work worker      # worker
#   docker run --env-file tsunagi.env tsunagi flask --app app work clock       # clock (exactly one)
#   docker run --env-file tsunagi.env tsunagi sh -c "flask --app app config check && flask --app app db upgrade"
#
# tests/ops/test_deploy.py repeats the install steps below (venv, lock, wheel, --no-deps) on the
# test machine and starts web, clock and worker from the result against PostgreSQL.

ARG PYTHON_VERSION=3.11

# --- build: dependencies from the lock file, then tsunagi as a wheel -------------------------
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/tsunagi
ENV PATH=/opt/tsunagi/bin:$PATH
WORKDIR /src
# The lock first: this layer is rebuilt only when the pins change.
COPY requirements.lock ./
RUN pip install --require-virtualenv -r requirements.lock
COPY . .
# The wheel carries templates, static files, examples, migrations, translations and the gunicorn
# settings (ops/gunicorn_conf.py); --no-deps: everything it needs is already pinned and installed.
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip install --require-virtualenv --no-deps /wheels/tsunagi-*.whl

# --- runtime: the virtualenv only, no compilers, no source, not root --------------------------
FROM python:${PYTHON_VERSION}-slim
RUN groupadd --system --gid 10001 tsunagi \
 && useradd --system --uid 10001 --gid tsunagi --home-dir /home/tsunagi --create-home tsunagi
COPY --from=build /opt/tsunagi /opt/tsunagi
ENV PATH=/opt/tsunagi/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=5000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/tsunagi-metrics
USER tsunagi
WORKDIR /home/tsunagi
EXPOSE 5000
# gunicorn's master handles SIGTERM (graceful_timeout); flask's worker and clock handle it too.
STOPSIGNAL SIGTERM
# No HEALTHCHECK here: the same image runs the worker and the clock, which serve no HTTP.
# compose.yaml checks the web containers on /readyz.
CMD ["gunicorn", "--config", "python:ops.gunicorn_conf", "app:create_app()"]
