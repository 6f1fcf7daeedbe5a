# Frontline application image: web chat, inbox, APIs and the Telegram channel in one process.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY core core
COPY nlu nlu
COPY kb kb
COPY sla sla
COPY tickets tickets
COPY records records
COPY handoff handoff
COPY notices notices
COPY portal portal
COPY bot bot
COPY migrations migrations
COPY alembic.ini ./
COPY data data
# The CPU build of torch first, so the sentence-transformers extra does not pull CUDA wheels.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir '.[st]'
RUN useradd --create-home frontline && mkdir -p /app/var && chown frontline /app/var
USER frontline
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --retries=5 CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz').status == 200 else 1)"
# No demo data (and so no demo staff passwords) unless asked with FRONTLINE_LOAD_DEMO=1. Without any admin
# account the server says at start how to create one:
#   docker compose exec app frontline operator add LOGIN --role admin
CMD ["sh", "-c", "frontline db upgrade && frontline ticket backfill-durations && if [ \"${FRONTLINE_LOAD_DEMO:-0}\" = 1 ]; then frontline demo load; fi && exec frontline serve"]
