// How fast can one large object be read, raw versus through the read path?
//
//   node dist/scripts/bench/read-raw.js [--key K] [--size-mib 1024] [--runs 3]
//        [--part-mib 8] [--inflight 8] [--readers 8] [--read-kib 1024] [--memory-mib 512]
//        [--max-window-mib 64] [--verify] [--sdk-bodies]
//
// Server and credentials from S3NFS_TEST_ENDPOINT, S3NFS_TEST_BUCKET, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY (scripts/local-s3.sh start DIR --store bluestore writes them to DIR/env).
// The object is created (random bytes, multipart) when missing or of another size.
//
// Measures, in MiB/s, run after run:
//   sdk        plain @aws-sdk/client-s3: parallel ranged GETs of part size, `inflight` at once
//   store      the same through SdkObjectStore (what the read path sits on; --sdk-bodies: with the
//              SDK's own stream bodies instead of DirectGetHandler)
//   prefetch   ReadPrefetcher on SdkObjectStore, `readers` concurrent 1 MiB reads in order
//              (what the kernel NFS client sends), no NFS in between
// and the ratio prefetch / sdk: of the best runs, and the median of each run's own ratio (the
// machine may be shared: back-to-back runs see about the same load). Also the client's CPU time.

import http from 'node:http';
import { parseArgs } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SdkObjectStore } from '../../src/s3/sdk-store.js';
import { MemoryBudget } from '../../src/fs/read/memory-budget.js';
import { ReadPrefetcher } from '../../src/fs/read/prefetcher.js';

const MiB = 1024 * 1024;

const { values: args } = parseArgs({
  options: {
    key: { type: 'string', default: 'bench/read-raw.bin' },
    'size-mib': { type: 'string', default: '1024' },
    runs: { type: 'string', default: '3' },
    'part-mib': { type: 'string', default: '8' },
    inflight: { type: 'string', default: '8' },
    readers: { type: 'string', default: '8' },
    'read-kib': { type: 'string', default: '1024' },
    'memory-mib': { type: 'string', default: '512' },
    'max-window-mib': { type: 'string', default: '64' },
    'initial-window-mib': { type: 'string', default: '1' },
    verify: { type: 'boolean', default: false },
    'sdk-bodies': { type: 'boolean', default: false },
  },
});

const endpoint = need('S3NFS_TEST_ENDPOINT');
const bucket = need('S3NFS_TEST_BUCKET');
const key = args.key!;
const size = num(args['size-mib']) * MiB;
const partSize = num(args['part-mib']) * MiB;
const inflight = num(args.inflight);
const readers = num(args.readers);
const readSize = num(args['read-kib']) * 1024;
const runs = num(args.runs);

function need(name: string): string {
  const v = process.env[name];
  if (!v) {
    console.error(`read-raw: ${name} is not set (source the env file of scripts/local-s3.sh start)`);
    process.exit(2);
  }
  return v;
}

function num(s: string | undefined): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${s}`);
  return n;
}

const store = new SdkObjectStore({ bucket, endpoint, directGet: !args['sdk-bodies'] });

async function ensureObject(): Promise<string> {
  const info = await store.head(key);
  if (info && info.size === size) return info.etag;
  console.log(`creating ${key} (${size / MiB} MiB)...`);
  const t0 = performance.now();
  const uploadId = await store.createMultipartUpload(key);
  const block = randomBytes(partSize);
  const parts = [];
  for (let n = 1, off = 0; off < size; n++, off += partSize) {
    // Each part differs (its number in front), so no part is a copy of another.
    const body = Buffer.from(block.subarray(0, Math.min(partSize, size - off)));
    body.writeUInt32BE(n, 0);
    parts.push(await store.uploadPart(key, uploadId, n, body));
  }
  await store.completeMultipartUpload(key, uploadId, parts);
  console.log(`  uploaded at ${mibps(size, performance.now() - t0)} MiB/s`);
  return (await store.head(key))!.etag;
}

function mibps(bytes: number, ms: number): string {
  return (bytes / MiB / (ms / 1000)).toFixed(0);
}

/** Runs `workers` loops that each take the next index until `count` are done. */
async function pool(count: number, workers: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(workers, count) }, async () => {
      while (next < count) await job(next++);
    }),
  );
}

const sdkAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const { NodeHttpHandler } = await import('@smithy/node-http-handler');
const sdk = new S3Client({
  endpoint,
  forcePathStyle: true,
  region: process.env.AWS_REGION ?? 'us-east-1',
  requestHandler: new NodeHttpHandler({ httpAgent: sdkAgent }),
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});

/** sha256 of each `readSize` slice, by slice index: compared order-free between the two paths. */
type SliceDigests = Map<number, string>;

const digest = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function rawSdk(digests?: SliceDigests): Promise<number> {
  const parts = Math.ceil(size / partSize);
  const t0 = performance.now();
  await pool(parts, inflight, async (i) => {
    const start = i * partSize;
    const end = Math.min(size, start + partSize);
    const out = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end - 1}` }));
    const bytes = await out.Body!.transformToByteArray();
    if (bytes.length !== end - start) throw new Error(`short part ${i}`);
    if (digests) {
      for (let off = 0; off < bytes.length; off += readSize) {
        digests.set((start + off) / readSize, digest(bytes.subarray(off, off + readSize)));
      }
    }
  });
  return performance.now() - t0;
}

async function viaStore(etag: string): Promise<number> {
  const parts = Math.ceil(size / partSize);
  const t0 = performance.now();
  await pool(parts, inflight, async (i) => {
    const start = i * partSize;
    const end = Math.min(size, start + partSize);
    const res = await store.get({ key, range: { start, end }, ifMatch: etag });
    if (res.body.length !== end - start) throw new Error(`short part ${i}`);
  });
  return performance.now() - t0;
}

async function viaPrefetcher(etag: string, digests?: SliceDigests): Promise<{ ms: number; p: ReadPrefetcher }> {
  const budget = new MemoryBudget(num(args['memory-mib']) * MiB);
  const p = new ReadPrefetcher(store, { key, size, etag }, budget, {
    partSize,
    maxWindow: num(args['max-window-mib']) * MiB,
    initialWindow: num(args['initial-window-mib']) * MiB,
  });
  const reads = Math.ceil(size / readSize);
  const t0 = performance.now();
  await pool(reads, readers, async (i) => {
    const r = await p.read(i * readSize, readSize);
    if (r.data.length !== Math.min(readSize, size - i * readSize)) throw new Error(`short read ${i}`);
    digests?.set(i, digest(r.data));
  });
  const ms = performance.now() - t0;
  const peak = budget.stats().peakReserved;
  p.close();
  console.log(
    `    prefetch: ${p.stats.getsIssued} GETs, window ${p.windowBytes / MiB} MiB, ` +
      `hits ${p.stats.bufferHits}/${p.stats.inflightHits}/${p.stats.misses} (buffer/in-flight/miss), ` +
      `peak memory ${(peak / MiB).toFixed(0)} MiB`,
  );
  return { ms, p };
}

const etag = await ensureObject();
console.log(
  `object ${key}: ${size / MiB} MiB; parts ${partSize / MiB} MiB, ${inflight} GETs in flight; ` +
    `${readers} readers of ${readSize / 1024} KiB`,
);

if (args.verify) {
  const raw: SliceDigests = new Map();
  const prefetched: SliceDigests = new Map();
  await rawSdk(raw);
  await viaPrefetcher(etag, prefetched);
  const same = raw.size === prefetched.size && [...raw].every(([i, h]) => prefetched.get(i) === h);
  console.log(`verify: ${raw.size} slices read through the prefetcher ${same ? 'match' : 'DIFFER FROM'} the raw GETs`);
  if (!same) process.exitCode = 1;
}

/** Wall time and this process's CPU time (user + system) of one measurement. */
async function timed(f: () => Promise<number>): Promise<{ ms: number; cpuMs: number }> {
  const c0 = process.cpuUsage();
  const ms = await f();
  const c = process.cpuUsage(c0);
  return { ms, cpuMs: (c.user + c.system) / 1000 };
}

const best = { sdk: Infinity, store: Infinity, prefetch: Infinity };
const cpu = { sdk: 0, store: 0, prefetch: 0 };
/** prefetch/sdk of each run: the two ran back to back, so the machine's load mostly cancels out. */
const paired: number[] = [];
for (let run = 1; run <= runs; run++) {
  const s = await timed(() => rawSdk());
  const st = await timed(() => viaStore(etag));
  const pf = await timed(async () => (await viaPrefetcher(etag)).ms);
  best.sdk = Math.min(best.sdk, s.ms);
  best.store = Math.min(best.store, st.ms);
  best.prefetch = Math.min(best.prefetch, pf.ms);
  paired.push(s.ms / pf.ms);
  cpu.sdk += s.cpuMs;
  cpu.store += st.cpuMs;
  cpu.prefetch += pf.cpuMs;
  console.log(
    `  run ${run}: sdk ${mibps(size, s.ms)}  store ${mibps(size, st.ms)}  prefetch ${mibps(size, pf.ms)} MiB/s` +
      `   (client CPU s/GiB: ${cpuPerGiB(s.cpuMs)} / ${cpuPerGiB(st.cpuMs)} / ${cpuPerGiB(pf.cpuMs)})`,
  );
}

function cpuPerGiB(cpuMs: number): string {
  return (cpuMs / 1000 / (size / (1024 * MiB))).toFixed(2);
}
console.log(
  `best: sdk ${mibps(size, best.sdk)} MiB/s, store ${mibps(size, best.store)} MiB/s, ` +
    `prefetch ${mibps(size, best.prefetch)} MiB/s; ` +
    `prefetch/sdk ${(best.sdk / best.prefetch).toFixed(2)}, prefetch/store ${(best.store / best.prefetch).toFixed(2)}`,
);
paired.sort((a, b) => a - b);
console.log(`median of per-run prefetch/sdk: ${paired[Math.floor(paired.length / 2)]!.toFixed(2)}`);
console.log(
  `client CPU s/GiB (mean): sdk ${cpuPerGiB(cpu.sdk / runs)}, store ${cpuPerGiB(cpu.store / runs)}, ` +
    `prefetch ${cpuPerGiB(cpu.prefetch / runs)}`,
);
sdk.destroy();
sdkAgent.destroy();
store.destroy();
