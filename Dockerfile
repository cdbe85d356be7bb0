# dvt-us runtime image: CPU only, no torch, no CUDA. The service entrypoint comes with the service issue;
# until then the image runs the command line
# (e.g. `docker run -v $PWD:/data dvt-us analyze /data/in --out /data/out --models /opt/dvt-us/models`).
FROM python:3.11-slim-bookworm

# Pango, HarfBuzz-Subset and fonts for the PDF report (WeasyPrint).
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 dvtus
WORKDIR /opt/dvt-us
COPY pyproject.toml README.md ./
COPY dvt_us ./dvt_us
COPY models ./models
RUN pip install --no-cache-dir . && rm -rf /root/.cache

USER dvtus
VOLUME ["/data"]
ENTRYPOINT ["dvt-us"]
CMD ["--help"]
