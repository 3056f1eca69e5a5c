// What `serve` feeds the metrics: every procedure counted and timed with the status of its result,
// file data through READ/WRITE, read-ahead outcomes, staged files and buffer memory at scrape
// time; and the progress lines it logs for long publishes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NFS_PROGRAM, NFS_V3, Nfs3Proc, NfsStat3 } from '../../../protocol/nfs3/constants.js';
import { getattr3Args, getattr3Res } from '../../../protocol/nfs3/metadata.js';
import { AuthFlavor } from '../../../protocol/rpc.js';
import { XdrReader, XdrWriter, encode } from '../../../protocol/xdr.js';
import { instrumentProgram, meteredFileSystem, wireScrapeSources } from '../../../src/cli/metrics-wiring.js';
import { PublishProgress } from '../../../src/cli/publish-progress.js';
import type { StagedFileStatus, WriteStatus } from '../../../src/fs/write/write-path.js';
import { createLogger } from '../../../src/log/logger.js';
import { S3nfsMetrics } from '../../../src/metrics/s3nfs-metrics.js';
import { CallRefused, implement, nullProcedure } from '../../../src/server/index.js';
import type { CallContext, RpcProgram } from '../../../src/server/index.js';
import { lookupPath, openTestExport, writeFile } from '../fs/export-helpers.js';

/** Sample lines as name{labels} → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

const ctx: CallContext = {
  xid: 9,
  program: NFS_PROGRAM,
  version: NFS_V3,
  procedure: Nfs3Proc.GETATTR,
  client: { address: '127.0.0.1', port: 700 },
  connectionId: 1,
  cred: { flavor: AuthFlavor.AUTH_NONE },
};

/** A stand-in NFS program whose GETATTR answers by the handle's first byte. */
const fakeNfs: RpcProgram = {
  name: 'nfs',
  program: NFS_PROGRAM,
  versions: {
    [NFS_V3]: {
      [Nfs3Proc.NULL]: nullProcedure(),
      [Nfs3Proc.GETATTR]: implement(
        { proc: Nfs3Proc.GETATTR, name: 'GETATTR', args: getattr3Args, res: getattr3Res, idempotent: true },
        (args) => {
          if (args.object[0] === 1) return getattr3Res.fail(NfsStat3.NFS3ERR_NOENT);
          if (args.object[0] === 2) throw new CallRefused({ kind: 'garbage-args' });
          if (args.object[0] === 3) throw new Error('bug');
          return getattr3Res.fail(NfsStat3.NFS3ERR_STALE);
        },
      ),
    },
  },
};

async function run(program: RpcProgram, proc: number, args: Buffer): Promise<Buffer | Error> {
  try {
    const encodeResult = await program.versions[NFS_V3]![proc]!.decodeArgs(new XdrReader(args)).run(ctx);
    const w = new XdrWriter();
    encodeResult(w);
    return w.toBuffer();
  } catch (err) {
    return err as Error;
  }
}

test('every call is counted by program and procedure, failures by their status name; replies are unchanged', async () => {
  const metrics = new S3nfsMetrics({ processMetrics: false });
  const wrapped = instrumentProgram(fakeNfs, metrics);
  const handle = (b: number) => encode(getattr3Args, { object: Buffer.from([b, 0, 0, 0]) });
  assert.deepEqual(await run(wrapped, Nfs3Proc.GETATTR, handle(1)), await run(fakeNfs, Nfs3Proc.GETATTR, handle(1)));
  await run(wrapped, Nfs3Proc.GETATTR, handle(1));
  await run(wrapped, Nfs3Proc.GETATTR, handle(4));
  assert.ok((await run(wrapped, Nfs3Proc.GETATTR, handle(2))) instanceof CallRefused);
  assert.ok((await run(wrapped, Nfs3Proc.GETATTR, handle(3))) instanceof Error);
  await run(wrapped, Nfs3Proc.NULL, Buffer.alloc(0));
  const s = samples(metrics.render());
  assert.equal(s.get('s3nfs_rpc_requests_total{program="nfs",procedure="GETATTR"}'), 5);
  assert.equal(s.get('s3nfs_rpc_requests_total{program="nfs",procedure="NULL"}'), 1);
  assert.equal(s.get('s3nfs_rpc_errors_total{program="nfs",procedure="GETATTR",status="NFS3ERR_NOENT"}'), 2);
  assert.equal(s.get('s3nfs_rpc_errors_total{program="nfs",procedure="GETATTR",status="NFS3ERR_STALE"}'), 1);
  assert.equal(s.get('s3nfs_rpc_errors_total{program="nfs",procedure="GETATTR",status="GARBAGE_ARGS"}'), 1);
  assert.equal(s.get('s3nfs_rpc_errors_total{program="nfs",procedure="GETATTR",status="SYSTEM_ERR"}'), 1);
  assert.equal(s.get('s3nfs_rpc_duration_seconds_count{program="nfs",procedure="GETATTR"}'), 5);
});

test('READ and WRITE data, read-ahead, staged files and memory reach the metrics', async (t) => {
  const exported = await openTestExport(t);
  const metrics = new S3nfsMetrics({ processMetrics: false });
  const fs = meteredFileSystem(exported.fs, metrics);
  wireScrapeSources(metrics, { exported, connections: () => 3 });
  await exported.memory.put({ key: 'big.bin', body: Buffer.alloc(3 * 1024 * 1024, 7) });
  const big = await lookupPath(fs, 'big.bin');
  for (let off = 0; off < 3 * 1024 * 1024; off += 512 * 1024) await fs.read(big.id, off, 512 * 1024);
  await writeFile(fs, fs.rootId, 'new.txt', 'twelve bytes');
  assert.equal(fs.rootId, exported.fs.rootId, 'other members pass through');

  const s = samples(metrics.render());
  assert.equal(s.get('s3nfs_nfs_read_bytes_total'), 3 * 1024 * 1024);
  assert.equal(s.get('s3nfs_nfs_write_bytes_total'), 12);
  assert.equal(s.get('s3nfs_clients_connected'), 3);
  assert.equal(s.get('s3nfs_staged_files{state="staged"}'), 1);
  assert.equal(s.get('s3nfs_staged_bytes'), 12);
  assert.equal(s.get('s3nfs_buffer_memory_limit_bytes'), 64 * 1024 * 1024);
  const stats = exported.readPath.stats();
  assert.equal(s.get('s3nfs_prefetch_misses_total'), stats.misses);
  assert.equal(s.get('s3nfs_prefetch_hits_total{source="buffer"}'), stats.bufferHits);
  assert.ok(stats.reads === 6 && stats.bufferHits + stats.inflightHits + stats.misses === 6);
  // A second scrape does not count the same reads again.
  assert.equal(samples(metrics.render()).get('s3nfs_prefetch_misses_total'), stats.misses);
});

test('progress lines name files that publish for longer than the threshold, with how far they got', () => {
  const lines: string[] = [];
  const log = createLogger({ format: 'json', write: (l) => lines.push(l) });
  let now = 0;
  let files: StagedFileStatus[] = [];
  const status = (): WriteStatus => ({
    verifier: 'v',
    files,
    totals: { staged: 0, writing: 0, publishing: 0, failed: 0, published: 0, bytes: 0, unpublishedBytes: 0 },
  });
  const file = (key: string, uploadedBytes: number): StagedFileStatus => ({
    key,
    phase: 'publishing',
    size: 100 * 1024 * 1024,
    writtenBytes: 0,
    durableBytes: 0,
    uploadedBytes,
    attempts: 1,
  });
  const progress = new PublishProgress({ status }, log, (k) => k.replace(/^pre\//, ''), { intervalMs: 3_600_000, now: () => now });
  try {
    files = [file('pre/big.bin', 0)];
    progress.look(); // first seen
    now = 5_000;
    files = [file('pre/big.bin', 10 * 1024 * 1024)];
    progress.look(); // too early
    assert.equal(lines.length, 0);
    now = 12_000;
    files = [file('pre/big.bin', 25 * 1024 * 1024)];
    progress.look();
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.deepEqual(
      { msg: line['msg'], path: line['path'], uploaded: line['uploaded'], size: line['size'], percent: line['percent'], seconds: line['seconds'] },
      { msg: 'publishing', path: 'big.bin', uploaded: '25.0 MiB', size: '100.0 MiB', percent: 25, seconds: 12 },
    );
    files = [];
    progress.look(); // done: forgotten
    files = [file('pre/big.bin', 0)];
    now = 20_000;
    progress.look();
    assert.equal(lines.length, 1, 'a new publish of the same file starts its own clock');
  } finally {
    progress.stop();
  }
});
