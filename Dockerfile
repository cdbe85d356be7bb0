# dvt-us service image: `dvt-us serve` with the embedded setup (SQLite and results on the /data volume).
#   docker build -t dvt-us .                                              # CPU: ONNX Runtime, no torch, no CUDA
#   docker build --build-arg ONNXRUNTIME=onnxruntime-gpu==1.31.1 -t dvt-us:gpu .   # CUDA execution provider
#   docker run -p 11112:11112 -p 8080:8080 -v dvt-us-data:/data -e DVT_US_API_TOKEN=... dvt-us
# Another config: mount it and set DVT_US_CONFIG (serve and the healthcheck both read it). Other commands:
#   docker run --entrypoint dvt-us dvt-us analyze /data/in --out /data/out
# The shipped models are trained on phantom data, not patients (models/*/*/MODEL_CARD.md).
FROM python:3.11-slim-bookworm

# Replace the CPU ONNX Runtime by this pip requirement (e.g. onnxruntime-gpu==1.31.1); empty keeps the CPU one.
ARG ONNXRUNTIME=""

# Pango, HarfBuzz-Subset and fonts for the PDF report (WeasyPrint).
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 dvtus && mkdir /data && chown dvtus:dvtus /data
WORKDIR /opt/dvt-us
COPY pyproject.toml README.md ./
COPY dvt_us ./dvt_us
RUN pip install --no-cache-dir ".[service]" \
    && if [ -n "$ONNXRUNTIME" ]; then pip uninstall -y onnxruntime && pip install --no-cache-dir "$ONNXRUNTIME"; fi \
    && rm -rf /root/.cache
COPY models ./models
COPY configs ./configs

ENV DVT_US_CONFIG=/opt/dvt-us/configs/service/container.yaml \
    PYTHONUNBUFFERED=1
USER dvtus
VOLUME ["/data"]
# DICOM node (C-STORE SCP) and HTTP API (incl. DICOMweb STOW-RS).
EXPOSE 11112 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["dvt-us", "health"]
# docker stop: SIGTERM stops the service cleanly; an unfinished job is queued again at the next start.
STOPSIGNAL SIGTERM
ENTRYPOINT ["dvt-us", "serve"]
