// The write path without a kernel client: how fast does `s3nfs serve` take a large file over NFS WRITE, and
// how soon is it an S3 object? Sends what the Linux client sends for `dd bs=1M conv=fsync` (1 MiB UNSTABLE
// WRITEs in order, `--inflight` outstanding, a COMMIT every `--commit-every-mib` without waiting for it, a final
// COMMIT), to a server started here on 127.0.0.1, and compares with a lib-storage upload of the same size.
//
//   node dist/scripts/bench/write-rpc.js [--size-mib 1024] [--inflight 8] [--commit-every-mib 16]
//        [--publish-delay 0.5] [--part-mib 8] [--queue 4] [--runs 1] [--server-node-arg ARG ...]
//
// --server-node-arg passes options to the server's node, e.g. --server-node-arg=--cpu-prof
// --server-node-arg=--cpu-prof-dir=/tmp/prof to see where its CPU goes.
//
// S3 from the env of `scripts/local-s3.sh start DIR [--store bluestore]` (S3NFS_TEST_ENDPOINT, credentials).
// Prints per run: sdk MiB/s (until Upload.done()), nfs-ingest MiB/s (until the final COMMIT returned) and
// nfs-visible MiB/s (until HEAD shows the whole object, publish delay included), plus server CPU seconds.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Upload } from '@aws-sdk/lib-storage';
import { MOUNT3, MOUNT_PROGRAM, MOUNT_V3, MountStat3 } from '../../protocol/mount.js';
import { CreateMode3, NFS_PROGRAM, NFS_V3, NfsStat3, StableHow } from '../../protocol/nfs3/constants.js';
import { emptySattr3 } from '../../protocol/nfs3/attributes.js';
import { NFS3 } from '../../protocol/nfs3/program.js';
import { RpcTestClient } from '../../test/unit/nfs/rpc-client.js';
import { createBucket, deleteBucket, s3Client, s3EnvFromProcess, uniqueBucketName } from '../../test/e2e/support/seed.js';
import { headObject } from '../../test/e2e/support/s3-watch.js';

const MiB = 1024 * 1024;
const P = NFS3.procedures;
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    inflight: { type: 'string', default: '8' },
    'commit-every-mib': { type: 'string', default: '16' },
    'publish-delay': { type: 'string', default: '0.5' },
    'part-mib': { type: 'string', default: '8' },
    queue: { type: 'string', default: '4' },
    runs: { type: 'string', default: '1' },
    'server-node-arg': { type: 'string', multiple: true, default: [] },
  },
});
const num = (name: Exclude<keyof typeof values, 'server-node-arg'>): number => {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
  return n;
};
const sizeMiB = num('size-mib');
const size = sizeMiB * MiB;

function startServer(bucket: string, stateDir: string, endpoint: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [
      ...(values['server-node-arg'] ?? []),
      path.join(repoRoot, 'bin/s3nfs'), 'serve', bucket,
      '--endpoint-url', endpoint, '--listen', '127.0.0.1', '--port', '0', '--portmap', 'off', '--insecure',
      '--state-dir', stateDir, '--publish-delay', String(num('publish-delay')), '--write-part-size', String(num('part-mib')),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`s3nfs exited with ${code}`)));
  });
}

/** CPU seconds of a process so far (utime + stime from /proc). */
async function cpuSeconds(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(stat[11]) + Number(stat[12])) / 100;
}

async function nfsRun(client: RpcTestClient, root: Buffer, name: string, block: Buffer, s3: ReturnType<typeof s3Client>, bucket: string) {
  const create = await client.ok(NFS_PROGRAM, NFS_V3, P.CREATE, {
    where: { dir: root, name },
    how: { mode: CreateMode3.UNCHECKED, objAttributes: { ...emptySattr3(), mode: 0o644 } },
  });
  if (create.status !== NfsStat3.NFS3_OK || !create.resok.obj) throw new Error(`CREATE: ${create.status}`);
  const file = create.resok.obj;
  const start = performance.now();
  const inflight = num('inflight');
  const commitEvery = num('commit-every-mib');
  let next = 0;
  const commits: Promise<unknown>[] = [];
  const worker = async () => {
    while (next < sizeMiB) {
      const i = next++;
      if (i > 0 && i % commitEvery === 0) commits.push(client.ok(NFS_PROGRAM, NFS_V3, P.COMMIT, { file, offset: 0n, count: 0 }));
      const res = await client.ok(NFS_PROGRAM, NFS_V3, P.WRITE, {
        file, offset: BigInt(i * MiB), count: MiB, stable: StableHow.UNSTABLE, data: block,
      });
      if (res.status !== NfsStat3.NFS3_OK) throw new Error(`WRITE ${i}: ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  await Promise.all(commits);
  await client.ok(NFS_PROGRAM, NFS_V3, P.COMMIT, { file, offset: 0n, count: 0 });
  const ingested = (performance.now() - start) / 1000;
  while ((await headObject(s3, bucket, name))?.size !== size) await sleep(50);
  return { ingested, visible: (performance.now() - start) / 1000 };
}

async function main(): Promise<void> {
  const env = s3EnvFromProcess();
  if (!env) throw new Error('S3NFS_TEST_ENDPOINT is not set');
  const s3 = s3Client(env);
  const bucket = uniqueBucketName('wrpc');
  await createBucket(s3, bucket);
  const stateDir = await mkdtemp(path.join(tmpdir(), 's3nfs-write-rpc-bench-'));
  const { child, port } = await startServer(bucket, stateDir, env.endpoint);
  const client = await RpcTestClient.connect(port);
  try {
    const mnt = await client.ok(MOUNT_PROGRAM, MOUNT_V3, MOUNT3.procedures.MNT, `/${bucket}`);
    if (mnt.status !== MountStat3.MNT3_OK) throw new Error(`MNT: ${mnt.status}`);
    const root = mnt.mountinfo.fhandle;
    const block = randomBytes(MiB);
    console.log(`write-rpc: ${sizeMiB} MiB, ${num('inflight')} WRITEs in flight, COMMIT every ${num('commit-every-mib')} MiB, ` +
      `publish delay ${num('publish-delay')} s, part ${num('part-mib')} MiB, lib-storage queue ${num('queue')}`);
    for (let run = 1; run <= num('runs'); run++) {
      const t0 = performance.now();
      let left = size;
      const body = new Readable({
        read() {
          if (left <= 0) return void this.push(null);
          left -= MiB;
          this.push(block);
        },
      });
      await new Upload({ client: s3, params: { Bucket: bucket, Key: `sdk-${run}.bin`, Body: body }, partSize: num('part-mib') * MiB, queueSize: num('queue') }).done();
      const sdk = (performance.now() - t0) / 1000;
      const cpu0 = await cpuSeconds(child.pid!);
      const nfs = await nfsRun(client, root, `nfs-${run}.bin`, block, s3, bucket);
      const cpu = (await cpuSeconds(child.pid!)) - cpu0;
      const rate = (s: number) => `${(sizeMiB / s).toFixed(1)} MiB/s`;
      console.log(`run ${run}: sdk ${rate(sdk)}; nfs-ingest ${rate(nfs.ingested)}; nfs-visible ${rate(nfs.visible)} ` +
        `(ratio ${(sdk / nfs.visible).toFixed(2)}); server CPU ${cpu.toFixed(1)} s`);
    }
  } finally {
    client.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await deleteBucket(s3, bucket).catch(() => undefined);
    s3.destroy();
    await rm(stateDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`write-rpc: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
});
