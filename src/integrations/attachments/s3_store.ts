/**
 * S3-compatible storage (AWS S3, MinIO, …): SigV4-signed PUT and DELETE, and SigV4 presigned GET
 * links that expire. Signing is aws4fetch's `AwsV4Signer` (WebCrypto, no other dependency), with
 * the time taken from the injected clock. Payloads are signed (`x-amz-content-sha256` is the real
 * hash), so storage rejects bytes altered on the way.
 */
import { AwsV4Signer } from "aws4fetch";
import { AppError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { Clock } from "../../runtime/clock.ts";
import { errorCode, type RetryPolicy, StorageRequester } from "./_retry.ts";
import { contentDisposition } from "./names.ts";
import { sha256Hex } from "../../util/crypto.ts";
import type { BlobStore, StoredAttachment } from "./store.ts";

export interface S3Options {
  /** e.g. `http://minio:9000`; for AWS `https://s3.<region>.amazonaws.com`. */
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** `endpoint/bucket/key` (MinIO and most compatibles) instead of `bucket.endpoint/key`. */
  readonly forcePathStyle: boolean;
  readonly retry: RetryPolicy;
  readonly clock: Clock;
  readonly log: Logger;
}

/** SigV4's `X-Amz-Date` form: `20260101T000000Z`. */
export function amzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[:-]|\.\d{3}/g, "");
}

/**
 * Where the store's objects (and so its presigned download links) live: the endpoint's origin,
 * or `bucket.host` with virtual-host addressing. Pages allow images from it (routes/web.ts).
 */
export function s3Origin(o: Pick<S3Options, "endpoint" | "bucket" | "forcePathStyle">): string {
  const base = new URL(o.endpoint);
  return o.forcePathStyle ? base.origin : `${base.protocol}//${o.bucket}.${base.host}`;
}

/** Longest presigned lifetime SigV4 allows (7 days). */
const MAX_PRESIGN_S = 604_800;

export class S3Store implements BlobStore {
  readonly kind = "s3" as const;
  readonly #o: S3Options;
  readonly #requests: StorageRequester;

  constructor(o: S3Options) {
    this.#o = o;
    this.#requests = new StorageRequester(o.clock, o.retry, o.log);
  }

  #url(key: string): URL {
    const path = new URL(this.#o.endpoint).pathname.replace(/\/+$/, "");
    const bucket = this.#o.forcePathStyle ? `/${encodeURIComponent(this.#o.bucket)}` : "";
    return new URL(`${s3Origin(this.#o)}${path}${bucket}/${encodeURIComponent(key)}`);
  }

  #signer(method: string, url: URL, extra: Record<string, unknown> = {}) {
    return new AwsV4Signer({
      method,
      url: url.toString(),
      accessKeyId: this.#o.accessKeyId,
      secretAccessKey: this.#o.secretAccessKey,
      service: "s3",
      region: this.#o.region,
      datetime: amzDate(this.#o.clock.now()),
      ...extra,
    });
  }

  async put(key: string, bytes: Uint8Array, mime: string): Promise<void> {
    const body = new Uint8Array(bytes);
    const hash = await sha256Hex(body);
    const res = await this.#requests.send(`PUT ${key}`, async () => {
      const headers = { "content-type": mime, "x-amz-content-sha256": hash };
      const signed = await this.#signer("PUT", this.#url(key), { headers, body }).sign();
      return new Request(signed.url, { method: "PUT", headers: signed.headers, body });
    });
    await this.#expectOk(res, `PUT ${key}`);
  }

  async delete(key: string): Promise<void> {
    const res = await this.#requests.send(`DELETE ${key}`, async () => {
      const signed = await this.#signer("DELETE", this.#url(key)).sign();
      return new Request(signed.url, { method: "DELETE", headers: signed.headers });
    });
    if (res.status === 404) return void await res.body?.cancel();
    await this.#expectOk(res, `DELETE ${key}`);
  }

  async signedUrl(meta: StoredAttachment, expiresAtS: number): Promise<string> {
    const nowS = Math.floor(this.#o.clock.now() / 1000);
    const ttl = Math.min(Math.max(1, expiresAtS - nowS), MAX_PRESIGN_S);
    const url = this.#url(meta.id);
    url.searchParams.set("X-Amz-Expires", String(ttl));
    // Served as a download with the right type, whatever the object's own headers say.
    url.searchParams.set("response-content-disposition", contentDisposition(meta.name));
    url.searchParams.set("response-content-type", meta.mime);
    const signed = await this.#signer("GET", url, { signQuery: true }).sign();
    return signed.url.toString();
  }

  /** A final answer that is not 2xx: the storage refused (credentials, bucket, policy). */
  async #expectOk(res: Response, what: string): Promise<void> {
    if (res.ok) return void await res.body?.cancel();
    const code = await errorCode(res);
    this.#o.log.error("storage refused a request", { what, status: res.status, code });
    throw new AppError(
      "internal",
      `Storage refused ${what}: ${res.status}${code ? ` ${code}` : ""}`,
    );
  }
}
