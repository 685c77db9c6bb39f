# The ledger's image: every service of docker-compose.yml runs the `ledger` command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY ledger ./ledger
COPY projections ./projections
COPY workers ./workers
RUN pip install . && useradd --create-home --uid 10001 ledger

USER ledger
ENTRYPOINT ["ledger"]
