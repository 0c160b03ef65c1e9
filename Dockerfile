# tracktion in a container: the wheel on a slim Python, run as a non-root user, its data in a volume.
#
#   docker build -t tracktion .
#   docker run -p 127.0.0.1:8080:8080 -v tracktion-data:/var/lib/tracktion tracktion
#
# Built by its users: no container engine runs in this project's CI. tests/test_wheel.py runs the same
# steps in a fresh venv instead (wheel built from the three paths copied below, installed with the
# postgres extra and nothing else, `tracktion serve` with this image's settings, the HEALTHCHECK command).
# See docs/deploying.md.

FROM python:3.11-slim AS wheel
WORKDIR /src
RUN pip install --no-cache-dir build
COPY pyproject.toml README.md ./
COPY tracktion ./tracktion
RUN python -m build --wheel --outdir /dist

FROM python:3.11-slim
COPY --from=wheel /dist /dist
# The postgres extra too, so that one image serves SQLite (the default) and TRACKTION_DATABASE_URL.
RUN pip install --no-cache-dir "$(ls /dist/tracktion-*.whl)[postgres]" \
    && rm -rf /dist \
    && useradd --system --user-group --uid 10001 --home-dir /var/lib/tracktion --create-home \
        --shell /usr/sbin/nologin tracktion \
    && chmod 0700 /var/lib/tracktion
# Listen on every interface of the container (publish the port to choose who reaches it); the SQLite
# store and the JWT signing key live in the data dir, a volume owned by the non-root user.
ENV TRACKTION_HOST=0.0.0.0 \
    TRACKTION_PORT=8080 \
    TRACKTION_DATA_DIR=/var/lib/tracktion \
    PYTHONUNBUFFERED=1
USER tracktion
WORKDIR /var/lib/tracktion
VOLUME ["/var/lib/tracktion"]
EXPOSE 8080
# Ready = the store accepts writes (503 while the database is unreachable). Python, since the slim image
# has no curl; the port follows TRACKTION_PORT if the run overrides it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/-/ready' % os.environ.get('TRACKTION_PORT', '8080'), timeout=4)"]
CMD ["tracktion", "serve"]
