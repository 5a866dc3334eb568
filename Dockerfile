# One engine node on the official Deno image, running the same start task as the README. The same
# image runs every cluster node and the one-shot topic setup (docker-compose.yml).
FROM denoland/deno:2.9.6

WORKDIR /app
RUN mkdir -p /data && chown deno:deno /data /app
USER deno

# Dependencies first, for layer caching: this layer is rebuilt only when deno.json or deno.lock
# change. `deno install` fetches every import of deno.json (npm packages included) into DENO_DIR.
COPY --chown=deno:deno deno.json deno.lock ./
RUN deno install --frozen

COPY --chown=deno:deno . .
# Everything a container runs, cached at build time (and checked against deno.lock): the engine,
# the kafkajs broker (the server loads it with a dynamic import, only when KAFKA_BROKERS is set)
# and the topic setup task (`deno task kafka:topics`).
RUN deno cache --frozen src/main.ts src/cluster/kafka_broker.ts scripts/kafka_topics.ts

ENV PORT=8080 \
    HOST=0.0.0.0 \
    KV_PATH=/data/chat.kv
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch('http://127.0.0.1:' + (Deno.env.get('PORT') ?? '8080') + '/readyz'); if (!r.ok) Deno.exit(1);"]

CMD ["task", "start"]
