FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    BRANDCAST_DATABASE_URL=sqlite:////data/brandcast.db

RUN useradd --create-home --uid 10001 brandcast && mkdir /data && chown brandcast /data
WORKDIR /srv/brandcast
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY alembic ./alembic
RUN pip install -e .

USER brandcast
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"
ENTRYPOINT ["brandcast"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
