// S3 baselines for scripts/bench/read.sh and scripts/bench/ls.sh: the same work done straight with the
// AWS SDK, no NFS in between, to set what the mount achieves against what S3 itself gives.
//
//   node dist/scripts/bench/s3-baseline.js ensure-object --key K --size-mib 1024
//   node dist/scripts/bench/s3-baseline.js ranged-get    --key K [--part-mib 8] [--inflight 16] [--runs 3] [--label L]
//   node dist/scripts/bench/s3-baseline.js ensure-keys   --prefix P --count 10000
//   node dist/scripts/bench/s3-baseline.js list          --prefix P [--runs 3] [--label L]
//
// Server and credentials from S3NFS_TEST_ENDPOINT, S3NFS_TEST_BUCKET and AWS_* (the env file of
// scripts/local-s3.sh). Each measuring command ends with one line `result NAME key=value ...` for the
// calling script; everything else is for people.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NodeHttpHandler } from '@smithy/node-http-handler';

const MiB = 1024 * 1024;

const { positionals, values: args } = parseArgs({
  allowPositionals: true,
  options: {
    key: { type: 'string', default: 'bench/read-1GiB.bin' },
    'size-mib': { type: 'string', default: '1024' },
    'part-mib': { type: 'string', default: '8' },
    inflight: { type: 'string', default: '16' },
    runs: { type: 'string', default: '3' },
    label: { type: 'string', default: 'host' },
    prefix: { type: 'string', default: 'bench/ls-10k/' },
    count: { type: 'string', default: '10000' },
  },
});

function need(name: string): string {
  const v = process.env[name];
  if (!v) {
    console.error(`s3-baseline: ${name} is not set (source the env file of scripts/local-s3.sh start)`);
    process.exit(2);
  }
  return v;
}

function positive(name: string, s: string | undefined): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`s3-baseline: --${name} must be a positive number, not ${s}`);
    process.exit(2);
  }
  return n;
}

const bucket = need('S3NFS_TEST_BUCKET');
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const s3 = new S3Client({
  endpoint: need('S3NFS_TEST_ENDPOINT'),
  region: process.env['AWS_REGION'] ?? 'us-east-1',
  forcePathStyle: true,
  requestHandler: new NodeHttpHandler({ httpAgent: agent }),
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});

/** Runs `job(i)` for i in [0, count) with `workers` at a time. */
async function pool(count: number, workers: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(workers, count) }, async () => {
      while (next < count) await job(next++);
    }),
  );
}

const mibps = (bytes: number, ms: number): number => bytes / MiB / (ms / 1000);

// ---- one big object, read with parallel ranged GETs --------------------------------------------

async function objectSize(key: string): Promise<number | undefined> {
  try {
    return (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength;
  } catch {
    return undefined;
  }
}

async function ensureObject(): Promise<void> {
  const key = args.key!;
  const size = positive('size-mib', args['size-mib']) * MiB;
  if ((await objectSize(key)) === size) {
    console.log(`object ${key} (${size / MiB} MiB) is there`);
    return;
  }
  const t0 = performance.now();
  let sent = 0;
  // Random 8 MiB chunks: nothing for a store to deduplicate or compress.
  const body = new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const n = Math.min(8 * MiB, size - sent);
      sent += n;
      this.push(randomBytes(n));
    },
  });
  await new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: body }, partSize: 8 * MiB, queueSize: 4 }).done();
  console.log(`created ${key} (${size / MiB} MiB) at ${mibps(size, performance.now() - t0).toFixed(0)} MiB/s`);
}

/** Reads the whole object once: parts of part-mib, `inflight` GETs at a time, bodies counted, not kept. */
async function readOnce(key: string, size: number, partSize: number, inflight: number): Promise<number> {
  const parts = Math.ceil(size / partSize);
  const t0 = performance.now();
  await pool(parts, inflight, async (i) => {
    const start = i * partSize;
    const end = Math.min(size, start + partSize) - 1;
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end}` }));
    let got = 0;
    for await (const chunk of out.Body as Readable) got += (chunk as Buffer).length;
    if (got !== end - start + 1) throw new Error(`part ${i}: ${got} bytes, want ${end - start + 1}`);
  });
  return performance.now() - t0;
}

async function rangedGet(): Promise<void> {
  const key = args.key!;
  const size = await objectSize(key);
  if (size === undefined) throw new Error(`no object ${key} (run ensure-object first)`);
  const partSize = positive('part-mib', args['part-mib']) * MiB;
  const inflight = positive('inflight', args.inflight);
  const runs = positive('runs', args.runs);
  const rates: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let run = 1; run <= runs; run++) {
    const ms = await readOnce(key, size, partSize, inflight);
    rates.push(mibps(size, ms));
    console.log(`  ranged GETs (${args.label}) run ${run}: ${rates.at(-1)!.toFixed(0)} MiB/s`);
  }
  const cpu = process.cpuUsage(cpu0);
  // This process's CPU time (user + system) per GiB read: what the SDK alone costs.
  const cpuPerGiB = (cpu.user + cpu.system) / 1e6 / ((runs * size) / (1024 * MiB));
  const best = Math.max(...rates);
  console.log(
    `result ranged-get label=${args.label} best_mibps=${best.toFixed(1)} runs=${rates.map((r) => r.toFixed(0)).join(',')} ` +
      `cpu_s_per_gib=${cpuPerGiB.toFixed(2)} part_mib=${partSize / MiB} inflight=${inflight} size_mib=${(size / MiB).toFixed(0)}`,
  );
}

// ---- many keys under one prefix, listed -------------------------------------------------------

async function countKeys(prefix: string): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    n += page.KeyCount ?? 0;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return n;
}

async function ensureKeys(): Promise<void> {
  const prefix = args.prefix!;
  const count = positive('count', args.count);
  const have = await countKeys(prefix);
  if (have === count) {
    console.log(`${count} keys under ${prefix} are there`);
    return;
  }
  const t0 = performance.now();
  await pool(count, 32, async (i) => {
    const body = Buffer.from(`object ${i}\n`);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: keyName(prefix, i), Body: body, ContentLength: body.length }));
  });
  console.log(`created ${count} keys under ${prefix} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

function keyName(prefix: string, i: number): string {
  return `${prefix}file-${String(i).padStart(6, '0')}.txt`;
}

/** One paged ListObjectsV2 of the prefix with delimiter '/' (a directory listing), 1,000 per page. */
async function listOnce(prefix: string): Promise<{ ms: number; entries: number; pages: number }> {
  const t0 = performance.now();
  let entries = 0;
  let pages = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
    );
    pages++;
    entries += (page.Contents?.length ?? 0) + (page.CommonPrefixes?.length ?? 0);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return { ms: performance.now() - t0, entries, pages };
}

async function list(): Promise<void> {
  const prefix = args.prefix!;
  const runs = positive('runs', args.runs);
  const times: number[] = [];
  let last = { entries: 0, pages: 0 };
  for (let run = 1; run <= runs; run++) {
    const r = await listOnce(prefix);
    times.push(r.ms);
    last = r;
    console.log(`  ListObjectsV2 (${args.label}) run ${run}: ${r.ms.toFixed(0)} ms, ${r.entries} entries, ${r.pages} pages`);
  }
  console.log(
    `result list label=${args.label} best_ms=${Math.min(...times).toFixed(1)} runs=${times.map((t) => t.toFixed(0)).join(',')} ` +
      `entries=${last.entries} pages=${last.pages}`,
  );
}

const commands: Record<string, () => Promise<void>> = {
  'ensure-object': ensureObject,
  'ranged-get': rangedGet,
  'ensure-keys': ensureKeys,
  list,
};
const command = commands[positionals[0] ?? ''];
if (!command) {
  console.error(`usage: s3-baseline.js ${Object.keys(commands).join('|')} [options] (see the top of scripts/bench/s3-baseline.ts)`);
  process.exit(2);
}
try {
  await command();
} finally {
  s3.destroy();
  agent.destroy();
}
