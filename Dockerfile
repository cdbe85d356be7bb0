# dvt-us runtime image: CPU only, no torch, no CUDA. The service entrypoint comes with the service issue;
# until then the image runs the command line (e.g. `docker run -v $PWD:/data dvt-us inspect /data`).
FROM python:3.11-slim-bookworm

RUN useradd --create-home --uid 10001 dvtus
WORKDIR /opt/dvt-us
COPY pyproject.toml README.md ./
COPY dvt_us ./dvt_us
RUN pip install --no-cache-dir . && rm -rf /root/.cache

USER dvtus
VOLUME ["/data"]
ENTRYPOINT ["dvt-us"]
CMD ["--help"]
