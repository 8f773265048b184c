# Two stages: the first builds the brandcast wheel (which carries the migrations and the
# receivers' helper) and collects a wheel for every dependency; the second installs those wheels
# and nothing else. The final image has no compiler, no source tree and runs as a non-root user.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY app ./app
COPY brandcast ./brandcast
RUN pip wheel --no-deps --wheel-dir /dist . \
 && pip wheel --wheel-dir /dist /dist/brandcast-*.whl

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BRANDCAST_DATABASE_URL=sqlite:////data/brandcast.db

# the wheels are mounted for this step only, so none of them stays in a layer
RUN --mount=type=bind,from=build,source=/dist,target=/dist \
    pip install --no-index --find-links /dist brandcast \
 && python -c "import brandcast.webhooks; from app.core.migrations import find_scripts; find_scripts()"

RUN useradd --create-home --uid 10001 brandcast && mkdir /data && chown brandcast /data
USER brandcast
WORKDIR /home/brandcast
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"
ENTRYPOINT ["brandcast"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
