// One e2e scenario against s3nfs: a bucket of its own, a state directory, the server under the supervisor (so the
// guest can kill -9 and restart it), a guest script, and host-side work (`during`) that runs while the guest
// does: watching S3, waiting for the guest's marks, releasing it. Everything is removed afterwards.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import {
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { GUEST_CTL, SupervisedServer, s3nfsMount, type SupervisorEvent } from './server-control.js';
import { createBucket, deleteBucket, patternBytes, s3Client, s3EnvFromProcess, uniqueBucketName, type S3Env } from './seed.js';
import { repoRoot, runInGuest, umlUnavailableReason, type GuestRunResult } from './uml.js';

export const MiB = 1024 * 1024;

/** Why these tests cannot run here, or null. */
export async function s3nfsE2eUnavailable(): Promise<string | null> {
  const uml = umlUnavailableReason();
  if (uml) return uml;
  if (!s3EnvFromProcess()) return 'S3NFS_TEST_ENDPOINT is not set (scripts/test.sh starts a local Ceph RGW)';
  try {
    await access(path.join(repoRoot, 'dist/src/cli/main.js'));
  } catch {
    return 'dist/ is not built (npx tsc -p tsconfig.json)';
  }
  return null;
}

export interface BucketContext {
  env: S3Env;
  client: S3Client;
  bucket: string;
}

/** A fresh bucket for `fn`; deleted afterwards (objects and unfinished multipart uploads too). */
export async function withBucket<T>(purpose: string, fn: (ctx: BucketContext) => Promise<T>): Promise<T> {
  const env = s3EnvFromProcess();
  if (!env) throw new Error('no S3 environment');
  const client = s3Client(env);
  const bucket = uniqueBucketName(purpose);
  await createBucket(client, bucket);
  try {
    return await fn({ env, client, bucket });
  } finally {
    await abortUploads(client, bucket).catch(() => undefined);
    await deleteBucket(client, bucket).catch(() => undefined);
    client.destroy();
  }
}

async function abortUploads(client: S3Client, bucket: string): Promise<void> {
  const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const u of page.Uploads ?? []) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
  }
}

export interface ScenarioOptions<T> {
  /** `s3nfs serve` flags besides bucket, endpoint, port, state dir, --insecure and --listen. */
  flags: string[];
  /** Relay the client's connections through the supervisor (needed for `ctl arm-kill`). */
  proxy?: boolean;
  /** The guest script; `ctl` (server-control.ts) is defined before it runs, `set -e` is not. */
  guestScript: string;
  guestEnv?: Record<string, string>;
  guestMem?: string;
  timeoutMs: number;
  /** Host-side work while the guest runs. `guestRunning()` turns false when the guest run ended. */
  during?: (server: SupervisedServer, guestRunning: () => boolean) => Promise<T>;
}

export interface ScenarioResult<T> {
  run: GuestRunResult;
  during: T | undefined;
  /** Server starts, kills and exits, from the supervisor. */
  events: SupervisorEvent[];
}

/** Runs the guest script against s3nfs serving `ctx.bucket`; rethrows what `during` threw after the run ended. */
export async function runScenario<T>(ctx: BucketContext, opts: ScenarioOptions<T>): Promise<ScenarioResult<T>> {
  const stateDir = await mkdtemp(path.join(tmpdir(), 's3nfs-e2e-state-'));
  const server = await SupervisedServer.create({
    bucket: ctx.bucket,
    endpoint: ctx.env.endpoint,
    stateDir,
    flags: opts.flags,
    ...(opts.proxy ? { proxy: true } : {}),
  });
  try {
    let running = true;
    const run = runInGuest({
      serverCommand: server.serverCommand,
      s3Endpoint: ctx.env.endpoint,
      mount: s3nfsMount(ctx.bucket),
      guestScript: `${GUEST_CTL}\n${opts.guestScript}`,
      guestEnv: { ...server.guestEnv, ...opts.guestEnv },
      ...(opts.guestMem === undefined ? {} : { guestMem: opts.guestMem }),
      timeoutMs: opts.timeoutMs,
      // Shutdown publishes what is pending; give it time rather than cutting it off.
      serverStopTimeoutMs: 60_000,
    }).finally(() => {
      running = false;
    });
    let duringResult: T | undefined;
    let duringError: unknown;
    if (opts.during) {
      try {
        duringResult = await opts.during(server, () => running);
      } catch (err) {
        duringError = err;
      }
    }
    const r = await run;
    if (duringError !== undefined) {
      const e = duringError instanceof Error ? duringError : new Error(String(duringError));
      e.message += `\n--- guest run: outcome=${r.outcome} exit=${r.exitCode}\n--- guest stdout:\n${r.stdout.slice(-3000)}\n--- guest stderr:\n${r.stderr.slice(-3000)}\n--- server log (tail):\n${r.serverLog.split('\n').slice(-40).join('\n')}`;
      throw e;
    }
    return { run: r, during: duringResult, events: await server.events() };
  } finally {
    await server.cleanup();
    await rm(stateDir, { recursive: true, force: true });
  }
}

/**
 * A file of generated bytes the guest can read: outside /tmp, which the guest's own tmpfs hides. The content
 * is seed.ts's deterministic pattern, so the test never holds it in memory.
 */
export interface SourceFile {
  path: string;
  size: number;
  sha256: string;
}

export async function withSourceDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp('/var/tmp/s3nfs-e2e-src-');
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function writePatternFile(dir: string, name: string, seed: string, size: number): Promise<SourceFile> {
  const file = path.join(dir, name);
  const out = createWriteStream(file);
  const h = createHash('sha256');
  for (let off = 0; off < size; off += 4 * MiB) {
    const chunk = patternBytes(seed, off, Math.min(4 * MiB, size - off));
    h.update(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { path: file, size, sha256: h.digest('hex') };
}

/** The first sha256sum line for `name` in guest output. */
export function guestSha256(stdout: string, name: string): string | undefined {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^([0-9a-f]{64})\\s+\\*?${escaped}$`, 'm').exec(stdout)?.[1];
}
