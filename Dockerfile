# imgsvc: one image for the web process and the worker.
#
#   web (default):  gunicorn on 0.0.0.0:8000, 2 worker processes (behind the front)
#   front:          docker run ... imgsvc imgsvc front --upstream <web>:8000
#   worker:         docker run ... imgsvc python -m imgsvc worker
#   reconcile:      docker run ... imgsvc imgsvc reconcile
#
# Configure with IMGSVC_* and AWS_* environment variables (see README.md).
# IMGSVC_SECRET_KEY is required for the web process.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# An unprivileged user with a home of its own (gunicorn keeps its control
# socket under $HOME/.gunicorn).
RUN groupadd --system --gid 10001 imgsvc \
 && useradd --system --uid 10001 --gid imgsvc --create-home --home-dir /home/imgsvc \
        --shell /usr/sbin/nologin imgsvc

# libturbojpeg: 4:2:0 photos decoded straight to their stored planes
# (imgsvc/imaging/jpegplanes.py; without it they take the RGB decode).
# nginx: the front (`imgsvc front`, the compose service `front`) runs from this
# image too, so its configuration comes from the same IMGSVC_* settings.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libturbojpeg0 nginx \
 && rm -rf /var/lib/apt/lists/*

# Install the package (and its dependencies) into the system site-packages,
# then drop the sources: the image runs the installed package only.
COPY pyproject.toml README.md /src/
COPY imgsvc /src/imgsvc
RUN pip install /src && rm -rf /src

# Optional: Pillow-SIMD instead of Pillow, the same PIL API with SIMD resizing
# (the 12 MP job's resizes ~5x faster; README "Performance" has the figures):
#   docker build --build-arg PILLOW_SIMD=1 .
# It compiles from source, so the compiler and headers stay in that image; on
# x86-64 it is built for AVX2 (every server CPU since 2013). AVIF
# (EXTRA_FORMATS=avif) works only if libavif is new enough; else it is skipped.
ARG PILLOW_SIMD=0
RUN if [ "$PILLOW_SIMD" = "1" ]; then \
        apt-get update \
     && apt-get install -y --no-install-recommends gcc libc6-dev libjpeg62-turbo-dev \
            zlib1g-dev libwebp-dev liblcms2-dev libtiff-dev libfreetype-dev libavif-dev \
     && rm -rf /var/lib/apt/lists/* \
     && pip uninstall -y pillow \
     && SIMD_FLAGS="$(uname -m | grep -q x86_64 && echo -mavx2 || true)" \
     && CC="cc $SIMD_FLAGS" pip install --no-binary pillow-simd "pillow-simd>=12,<14" \
     && python -c "import PIL.Image, PIL.ImageCms, PIL.WebPImagePlugin"; \
    fi

# The default STORAGE_URL is file://<working directory>/var/media; make that
# writable for the user so the image also works without S3. Prometheus samples
# of every process in the container (gunicorn's and the worker's) go to
# PROMETHEUS_MULTIPROC_DIR; docker-compose.yml shares it between web and worker.
WORKDIR /app
RUN mkdir -p /app/var /var/lib/imgsvc/prometheus /var/lib/imgsvc/front \
 && chown imgsvc:imgsvc /app/var /var/lib/imgsvc /var/lib/imgsvc/prometheus /var/lib/imgsvc/front
ENV PROMETHEUS_MULTIPROC_DIR=/var/lib/imgsvc/prometheus \
    IMGSVC_FRONT_DIR=/var/lib/imgsvc/front \
    IMGSVC_LOG_FORMAT=json

USER imgsvc
# The web UI, the API, /healthz and /metrics (Prometheus) all answer on 8000:
# gunicorn's sync processes, which must only ever face the front (nginx).
EXPOSE 8000

# No --access-logfile: the app writes one JSON line per request (IMGSVC_LOG_FORMAT).
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", \
     "--worker-tmp-dir", "/dev/shm", "--no-control-socket", "imgsvc.wsgi:app"]
