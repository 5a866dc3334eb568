# One engine node on the official Deno image, running the same start task as the README.
FROM denoland/deno:2.9.6

WORKDIR /app
RUN mkdir -p /data && chown deno:deno /data /app
USER deno

# Dependencies first, for layer caching.
COPY --chown=deno:deno deno.json deno.lock ./
COPY --chown=deno:deno . .
RUN deno cache --frozen-lockfile src/main.ts

ENV PORT=8080 \
    HOST=0.0.0.0 \
    KV_PATH=/data/chat.kv
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch('http://127.0.0.1:' + (Deno.env.get('PORT') ?? '8080') + '/readyz'); if (!r.ok) Deno.exit(1);"]

CMD ["task", "start"]
