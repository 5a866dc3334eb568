# The production image: one engine node on the official Deno image, running the same start task as
# the README, as the non-root user `deno`. The same image runs every cluster node and the one-shot
# topic setup (docker-compose.yml). Built from deno.lock, with only the npm packages the image's
# entrypoints load (no playwright-core, socket.io-client, fast-check or fflate): tests/ops/image_test.ts
# checks this file, the graph and the pruned lock.

# Stage 1: the lock, pruned to the entrypoints' module graph (scripts/image_lock.ts says why a
# plain `deno install --entrypoint` on the full lock would still fetch the test-only packages).
FROM denoland/deno:2.9.6 AS lock
WORKDIR /build
COPY deno.json deno.lock ./
COPY src/ src/
COPY actors/ actors/
COPY routes/ routes/
COPY scripts/ scripts/
RUN deno run --frozen --allow-read --allow-write=/out --allow-run \
    scripts/image_lock.ts /out src/main.ts scripts/kafka_topics.ts scripts/token.ts

# Stage 2: the image.
FROM denoland/deno:2.9.6
WORKDIR /app
# The data volume (KV file, attachments) belongs to the user the engine runs as.
RUN mkdir -p /data/attachments && chown -R deno:deno /data
COPY --from=lock /out/deno.json /out/deno.lock ./
COPY src/ src/
COPY actors/ actors/
COPY routes/ routes/
COPY web/ web/
COPY config/ config/
COPY scripts/kafka_topics.ts scripts/token.ts scripts/

USER deno
# Every module the engine can load, from the pruned lock, frozen (a missing or different entry
# fails the build): the server, the kafkajs broker it imports when KAFKA_BROKERS is set, the topic
# setup (`deno task kafka:topics`) and `deno task token`. Into DENO_DIR (/deno-dir, the user's).
RUN deno install --frozen --entrypoint src/main.ts scripts/kafka_topics.ts scripts/token.ts

ENV PORT=8080 \
    HOST=0.0.0.0 \
    KV_PATH=/data/chat.kv \
    ATTACHMENTS_DIR=/data/attachments \
    DENO_NO_UPDATE_CHECK=1 \
    MALLOC_ARENA_MAX=2
VOLUME ["/data"]
EXPOSE 8080

# The image has no curl: deno asks /healthz (the process serves HTTP); no config, so the check
# loads nothing but itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["deno", "eval", "--no-config", "const r = await fetch('http://127.0.0.1:' + (Deno.env.get('PORT') ?? '8080') + '/healthz', { signal: AbortSignal.timeout(2500) }); Deno.exit(r.ok ? 0 : 1);"]

CMD ["task", "start"]
