# runway-console: docker build -t runway-console . && docker run -p 8000:8000 -v runway-data:/data runway-console
# Pillow and PyAV ship manylinux wheels with their codecs, so the slim image needs no system packages;
# so do uvloop and httptools, which `runway-console serve` runs on (README "Performance").
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY templates ./templates
COPY static ./static
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CONSOLE_DATA_DIR=/data
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels runway-console \
 && useradd --system --uid 10001 --home-dir /data console \
 && mkdir -p /data && chown console /data
USER console
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# It listens on 0.0.0.0, so with an upstream key it starts only with CONSOLE_PASSWORD, accounts
# (`runway-console user add`), CONSOLE_VISITOR_KEYS=true (visitors bring their own key) or CONSOLE_ALLOW_OPEN=true. Behind a proxy in another container, set
# CONSOLE_TRUSTED_PROXIES to that proxy's address so its X-Forwarded-* headers are believed.
CMD ["runway-console", "serve", "--host", "0.0.0.0", "--port", "8000"]
