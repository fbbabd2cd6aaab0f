# The gateway as a container, for users with Docker (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY streams ./streams
RUN pip install --no-cache-dir . \
    && mkdir /var/lib/residency-gateway && chown nobody /var/lib/residency-gateway
# faust keeps its worker state in ./<app id>-data, so the worker runs where `nobody` may write,
# not in the root-owned /app.
WORKDIR /var/lib/residency-gateway
USER nobody
ENTRYPOINT ["residency-gateway"]
CMD ["run", "--config", "/app/config/policy.yaml"]
