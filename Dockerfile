# The gateway as a container, for users with Docker (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY streams ./streams
# The runtime image holds no development tools: no embedded broker, demo or traffic generator
# (nothing in the runtime imports them; tests/unit/test_runtime_image.py proves it runs without).
RUN rm -rf streams/devtools \
    && pip install --no-cache-dir . \
    && mkdir /var/lib/residency-gateway && chown nobody /var/lib/residency-gateway
# faust keeps its worker state in ./<app id>-data, so the worker runs where `nobody` may write,
# not in the root-owned /app.
WORKDIR /var/lib/residency-gateway
USER nobody
ENTRYPOINT ["residency-gateway"]
CMD ["run", "--config", "/app/config/policy.yaml"]
