# The gateway as a container, for users with Docker (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY streams ./streams
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT ["residency-gateway"]
CMD ["run", "--config", "/app/config/policy.yaml"]
