// WRITE, COMMIT and publication at the RPC level, against `s3nfs serve` (a child process, so it can be killed
// with SIGKILL) on a real S3 (Ceph RGW from scripts/test.sh). Calls are built with the protocol codecs:
// - a 20 MiB file sent as shuffled, concurrent UNSTABLE WRITEs with a COMMIT in the middle (as the Linux client
//   does under memory pressure, COMMIT overtaking WRITEs) is published with exactly the right bytes;
// - kill -9 before any COMMIT: nothing partial ever shows in S3 while the client resends after the restart (it
//   sees a new write verifier) and the whole file is published; if the client never comes back, none of the
//   uncommitted bytes are ever published;
// - kill -9 after COMMIT: the restarted server publishes the committed file without any help from the client.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { MOUNT3, MOUNT_PROGRAM, MOUNT_V3, MountStat3 } from '../../protocol/mount.js';
import { CreateMode3, NFS_PROGRAM, NFS_V3, NfsStat3, StableHow } from '../../protocol/nfs3/constants.js';
import { emptySattr3 } from '../../protocol/nfs3/attributes.js';
import { NFS3 } from '../../protocol/nfs3/program.js';
import type { ProcedureCodecs } from '../../protocol/program.js';
import { RpcTestClient } from '../unit/nfs/rpc-client.js';
import { KeyWatcher, headObject, objectDigest, waitForObject } from '../e2e/support/s3-watch.js';
import { s3Client, s3EnvFromProcess } from '../e2e/support/seed.js';

const MiB = 1024 * 1024;
const P = NFS3.procedures;
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const bucket = process.env['S3NFS_TEST_BUCKET'];
const env = s3EnvFromProcess();
const NO_SERVER = 'S3NFS_TEST_ENDPOINT / S3NFS_TEST_BUCKET are not set (scripts/test.sh starts a local Ceph RGW)';
const PUBLISH_DELAY_S = 1;
const PUBLISH_DEADLINE_MS = 60_000;

/** `s3nfs serve` as a child process on a loopback port of its choosing. */
class ServerProcess {
  log = '';
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly exited: Promise<number | null>,
  ) {}

  static start(args: string[]): Promise<ServerProcess> {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/s3nfs'), 'serve', ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`s3nfs did not listen within 30 s:\n${log}`)), 30_000);
      child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      child.stdout!.on('data', (d: Buffer) => {
        log += d.toString();
        const m = /s3nfs: listening on 127\.0\.0\.1:(\d+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          const s = new ServerProcess(child, Number(m[1]), exited);
          child.stdout!.on('data', (more: Buffer) => (s.log += more.toString()));
          child.stderr!.on('data', (more: Buffer) => (s.log += more.toString()));
          s.log = log;
          resolve(s);
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`s3nfs exited with ${code} before listening:\n${log}`));
      });
    });
  }

  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }
}

interface Setup {
  prefix: string;
  stateDir: string;
  serveArgs: string[];
  client: ReturnType<typeof s3Client>;
  servers: ServerProcess[];
  start(): Promise<ServerProcess>;
}

async function setup(t: TestContext): Promise<Setup> {
  const prefix = `nfs-write-rpc-${Date.now()}-${randomBytes(4).toString('hex')}/`;
  const stateDir = await mkdtemp(path.join(tmpdir(), 's3nfs-write-rpc-'));
  const client = s3Client(env!);
  const servers: ServerProcess[] = [];
  const serveArgs = [
    `${bucket}/${prefix}`,
    '--endpoint-url', env!.endpoint,
    '--listen', '127.0.0.1',
    '--port', '0',
    '--state-dir', stateDir,
    '--insecure',
    '--publish-delay', String(PUBLISH_DELAY_S),
    // Port 111 of the host is nobody's to take in a test.
    '--portmap', 'off',
  ];
  t.after(async () => {
    for (const s of servers) await s.stop();
    client.destroy();
    await rm(stateDir, { recursive: true, force: true });
  });
  return {
    prefix,
    stateDir,
    serveArgs,
    client,
    servers,
    async start() {
      const s = await ServerProcess.start(serveArgs);
      servers.push(s);
      return s;
    },
  };
}

/** An NFS/MOUNT connection to one server process. */
class Nfs {
  private constructor(
    readonly rpc: RpcTestClient,
    readonly server: ServerProcess,
  ) {}

  static async connect(server: ServerProcess): Promise<Nfs> {
    return new Nfs(await RpcTestClient.connect(server.port), server);
  }

  call<A, R>(proc: ProcedureCodecs<A, R>, args: A): Promise<R> {
    return this.rpc.ok(NFS_PROGRAM, NFS_V3, proc, args);
  }

  async mountRoot(exportPath: string): Promise<Buffer> {
    const res = await this.rpc.ok(MOUNT_PROGRAM, MOUNT_V3, MOUNT3.procedures.MNT, exportPath);
    assert.equal(res.status, MountStat3.MNT3_OK, `MNT ${exportPath}: ${JSON.stringify(res)}\n${this.server.log}`);
    return res.mountinfo.fhandle;
  }

  async create(dir: Buffer, name: string): Promise<Buffer> {
    const res = await this.call(P.CREATE, {
      where: { dir, name },
      how: { mode: CreateMode3.UNCHECKED, objAttributes: { ...emptySattr3(), mode: 0o644 } },
    });
    assert.equal(res.status, NfsStat3.NFS3_OK, `CREATE ${name}: status ${res.status}\n${this.server.log}`);
    if (res.resok.obj) return res.resok.obj;
    const found = await this.call(P.LOOKUP, { what: { dir, name } });
    assert.equal(found.status, NfsStat3.NFS3_OK);
    return found.resok.object;
  }

  async write(file: Buffer, offset: number, data: Buffer, stable: StableHow = StableHow.UNSTABLE): Promise<Buffer> {
    const res = await this.call(P.WRITE, { file, offset: BigInt(offset), count: data.length, stable, data });
    assert.equal(res.status, NfsStat3.NFS3_OK, `WRITE at ${offset}: status ${res.status}\n${this.server.log}`);
    assert.equal(res.resok.count, data.length, `WRITE at ${offset} was short`);
    return res.resok.verf;
  }

  async commit(file: Buffer): Promise<Buffer> {
    const res = await this.call(P.COMMIT, { file, offset: 0n, count: 0 });
    assert.equal(res.status, NfsStat3.NFS3_OK, `COMMIT: status ${res.status}\n${this.server.log}`);
    return res.resok.verf;
  }

  async readAll(file: Buffer, size: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (let off = 0; off < size; off += MiB) {
      const res = await this.call(P.READ, { file, offset: BigInt(off), count: Math.min(MiB, size - off) });
      assert.equal(res.status, NfsStat3.NFS3_OK, `READ at ${off}: status ${res.status}`);
      parts.push(Buffer.from(res.resok.data));
    }
    return Buffer.concat(parts);
  }

  close(): void {
    this.rpc.close();
  }
}

function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

const exportOf = (prefix: string) => `/${bucket}/${prefix.replace(/\/$/, '')}`;

test('shuffled concurrent UNSTABLE WRITEs with a COMMIT in the middle publish a 20 MiB file intact', async (t) => {
  if (!env || !bucket) return t.skip(NO_SERVER);
  const s = await setup(t);
  const server = await s.start();
  const nfs = await Nfs.connect(server);
  t.after(() => nfs.close());
  const size = 20 * MiB;
  const data = randomBytes(size);
  const root = await nfs.mountRoot(exportOf(s.prefix));
  const file = await nfs.create(root, 'shuffled.bin');
  const key = `${s.prefix}shuffled.bin`;
  const watcher = new KeyWatcher(s.client, bucket, key, { size, sha256: sha256(data) });
  t.after(() => watcher.stop());

  // Chunks of 1 MiB, plus one chunk cut in two unequal WRITEs, all in a random order, 8 at a time.
  const chunks: Array<[number, number]> = [];
  for (let off = 0; off < size; off += MiB) {
    if (off === 5 * MiB) chunks.push([off, off + 300_000], [off + 300_000, off + MiB]);
    else chunks.push([off, off + MiB]);
  }
  const order = shuffled(chunks);
  const verifiers = new Set<string>();
  let next = 0;
  let midCommit: Promise<Buffer> | undefined;
  const worker = async () => {
    while (next < order.length) {
      const [start, end] = order[next++]!;
      // A COMMIT sent while half the WRITEs are not even sent and several are unanswered.
      if (next === Math.floor(order.length / 2)) midCommit = nfs.commit(file);
      verifiers.add((await nfs.write(file, start, data.subarray(start, end))).toString('hex'));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  assert.ok(midCommit);
  verifiers.add((await midCommit).toString('hex'));
  // The Linux client resends bytes it already wrote (a cached page widened to the whole range): same bytes again.
  verifiers.add((await nfs.write(file, 3 * MiB + 10, data.subarray(3 * MiB + 10, 4 * MiB + 20))).toString('hex'));
  verifiers.add((await nfs.commit(file)).toString('hex'));
  assert.equal(verifiers.size, 1, 'one server boot, one write verifier');

  // Read-your-writes before publication.
  assert.equal(sha256(await nfs.readAll(file, size)), sha256(data), 'READ after COMMIT returns other bytes');

  await waitForObject(s.client, bucket, key, { size, timeoutMs: PUBLISH_DEADLINE_MS });
  const digest = await objectDigest(s.client, bucket, key);
  assert.equal(digest.size, size);
  assert.equal(digest.sha256, sha256(data), 'the published object differs from what was written');
  await watcher.stop();
  assert.equal(watcher.violations.length, 0, `S3 showed another version:\n${watcher.describe()}`);
});

/** CREATE and UNSTABLE WRITEs of the first 10 MiB (shuffled, concurrent) on a first server, then kill -9. */
async function writeUncommittedThenKill(s: Setup, name: string, data: Buffer): Promise<{ file: Buffer; verf: Set<string> }> {
  const first = await s.start();
  const nfs = await Nfs.connect(first);
  const root = await nfs.mountRoot(exportOf(s.prefix));
  const file = await nfs.create(root, name);
  const verf = new Set<string>();
  await Promise.all(
    shuffled([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).map(async (i) => {
      verf.add((await nfs.write(file, i * MiB, data.subarray(i * MiB, (i + 1) * MiB))).toString('hex'));
    }),
  );
  await first.kill9();
  nfs.close();
  return { file, verf };
}

test('kill -9 before any COMMIT, client resends after the restart: S3 never shows a partial object', async (t) => {
  if (!env || !bucket) return t.skip(NO_SERVER);
  const s = await setup(t);
  const size = 20 * MiB;
  const data = randomBytes(size);
  const key = `${s.prefix}uncommitted.bin`;
  const watcher = new KeyWatcher(s.client, bucket, key, { size, sha256: sha256(data) }, 100);
  t.after(() => watcher.stop());
  const { file, verf: verf1 } = await writeUncommittedThenKill(s, 'uncommitted.bin', data);

  const second = await s.start();
  const nfs2 = await Nfs.connect(second);
  t.after(() => nfs2.close());
  // Like the Linux client after a reconnect: a new verifier in the first reply, so everything that was not
  // committed is sent again, then the rest, then COMMIT.
  const verf2 = new Set<string>();
  for (let i = 0; i < size / MiB; i++) {
    verf2.add((await nfs2.write(file, i * MiB, data.subarray(i * MiB, (i + 1) * MiB))).toString('hex'));
  }
  verf2.add((await nfs2.commit(file)).toString('hex'));
  assert.equal(verf2.size, 1);
  assert.notDeepEqual([...verf2], [...verf1], 'the write verifier must change when uncommitted data may be lost');

  await waitForObject(s.client, bucket, key, { size, timeoutMs: PUBLISH_DEADLINE_MS });
  assert.equal((await objectDigest(s.client, bucket, key)).sha256, sha256(data));
  await sleep(300);
  await watcher.stop();
  assert.equal(watcher.violations.length, 0, `S3 showed a partial object:\n${watcher.describe()}\n${second.log}`);
});

test('kill -9 before any COMMIT, client never comes back: uncommitted bytes are never published', async (t) => {
  if (!env || !bucket) return t.skip(NO_SERVER);
  const s = await setup(t);
  const size = 20 * MiB;
  const data = randomBytes(size);
  const key = `${s.prefix}abandoned.bin`;
  const watcher = new KeyWatcher(s.client, bucket, key, { size, sha256: sha256(data) }, 100);
  t.after(() => watcher.stop());
  await writeUncommittedThenKill(s, 'abandoned.bin', data);

  const second = await s.start();
  await sleep(4 * PUBLISH_DELAY_S * 1000 + 500);
  await watcher.stop();
  // What the dead server had promised is the file CREATE made, empty; the WRITEs were never committed. The
  // restarted server may publish that empty file once it is quiet, but none of the uncommitted bytes.
  const leaked = watcher.observations.filter((o) => o.head !== null && o.head.size !== 0);
  assert.equal(leaked.length, 0, `S3 showed uncommitted bytes:\n${watcher.describe()}\n${second.log}`);
  t.diagnostic(`S3 showed: ${watcher.describe()}`);
});

test('kill -9 right after COMMIT: the restarted server publishes the committed file on its own', async (t) => {
  if (!env || !bucket) return t.skip(NO_SERVER);
  const s = await setup(t);
  const size = 20 * MiB;
  const data = randomBytes(size);
  const key = `${s.prefix}committed.bin`;

  const first = await s.start();
  const nfs1 = await Nfs.connect(first);
  const root = await nfs1.mountRoot(exportOf(s.prefix));
  const file = await nfs1.create(root, 'committed.bin');
  await Promise.all(
    shuffled(Array.from({ length: size / MiB }, (_, i) => i)).map((i) =>
      nfs1.write(file, i * MiB, data.subarray(i * MiB, (i + 1) * MiB)),
    ),
  );
  const verf1 = await nfs1.commit(file);
  // Killed well within the publish delay of the last WRITE: the first server cannot have published.
  await first.kill9();
  nfs1.close();
  assert.equal(await headObject(s.client, bucket, key), null, 'published before the kill: the test proves nothing');

  const second = await s.start();
  await waitForObject(s.client, bucket, key, { size, timeoutMs: PUBLISH_DEADLINE_MS });
  assert.equal((await objectDigest(s.client, bucket, key)).sha256, sha256(data), second.log);

  // The same handle still works on the new server, with a new verifier.
  const nfs2 = await Nfs.connect(second);
  t.after(() => nfs2.close());
  const verf2 = await nfs2.commit(file);
  assert.notDeepEqual(verf2, verf1);
  assert.equal(sha256(await nfs2.readAll(file, size)), sha256(data));
});
