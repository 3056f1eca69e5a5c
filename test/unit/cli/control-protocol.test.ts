// The control protocol (src/control): request validation, path normalization, and one request per
// connection over a real unix socket (mode 0600) with in-memory handlers; plus the status and
// flush rendering and how `s3nfs flush PATH` finds the server and export path.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatBytes, renderFlush, renderStatus, resolveFlushTarget } from '../../../src/cli/control-commands.js';
import { parseMounts } from '../../../src/cli/nfs-client.js';
import type { FoundServer } from '../../../src/cli/server-discovery.js';
import { mountStateDir } from '../../../src/cli/server-discovery.js';
import { ControlClientError, controlRequest } from '../../../src/control/client.js';
import {
  ControlProtocolError,
  normalizeExportPath,
  parseRequest,
  parseResponse,
  type FlushReport,
  type StatusReport,
} from '../../../src/control/protocol.js';
import { ControlSocketError, startControlServer, type ControlHandlers } from '../../../src/control/server.js';
import { silentLogger } from '../../../src/log/logger.js';

function status(overrides: Partial<StatusReport> = {}): StatusReport {
  return {
    pid: 4242,
    version: '0.1.0',
    startedAt: '2026-01-01T00:00:00.000Z',
    stateDir: '/var/lib/s3nfs',
    listen: [{ host: '127.0.0.1', port: 2049 }],
    portmap: 'serving portmap on port 111 (TCP and UDP)',
    exports: [{ path: '/photos/raw', bucket: 'photos', prefix: 'raw/', readOnly: false }],
    connections: 1,
    clients: [{ address: '127.0.0.1', mounts: ['/photos/raw'], calls: 12, lastCallAt: '2026-01-01T00:59:57.000Z' }],
    uploads: { staged: 1, publishing: 1, failed: 1, pendingBytes: 3 * 1024 * 1024 },
    pending: [
      { path: 'a.txt', phase: 'writing', size: 1024 * 1024, uploadedBytes: 0, attempts: 0 },
      { path: 'big.bin', phase: 'publishing', size: 2 * 1024 * 1024, uploadedBytes: 1024 * 1024, attempts: 1 },
      {
        path: 'bad.txt',
        phase: 'failed',
        size: 10,
        uploadedBytes: 0,
        attempts: 3,
        lastError: 'AccessDenied',
        nextAttemptAt: '2026-01-01T01:00:40.000Z',
      },
    ],
    memory: { reservedBytes: 8 * 1024 * 1024, limitBytes: 512 * 1024 * 1024 },
    ...overrides,
  };
}

test('requests: status, stop, flush with an optional path; anything else is named', () => {
  assert.deepEqual(parseRequest('{"op":"status"}'), { op: 'status' });
  assert.deepEqual(parseRequest('{"op":"stop"}'), { op: 'stop' });
  assert.deepEqual(parseRequest('{"op":"flush"}'), { op: 'flush' });
  assert.deepEqual(parseRequest('{"op":"flush","path":"a/b"}'), { op: 'flush', path: 'a/b' });
  const bad: [string, RegExp][] = [
    ['not json', /not JSON/],
    ['[1]', /JSON object/],
    ['{"op":"reboot"}', /unknown op "reboot"/],
    ['{"op":"status","path":"x"}', /takes no path/],
    ['{"op":"flush","path":7}', /string/],
    ['{"op":"flush","extra":1}', /unknown request field "extra"/],
  ];
  for (const [line, message] of bad) {
    assert.throws(() => parseRequest(line), (e: unknown) => e instanceof ControlProtocolError && message.test(e.message), line);
  }
  assert.deepEqual(parseResponse('{"ok":false,"error":"x"}'), { ok: false, error: 'x' });
  assert.throws(() => parseResponse('{"result":1}'), /no "ok"/);
});

test('export paths lose leading, trailing and repeated slashes and "."; ".." is refused', () => {
  assert.equal(normalizeExportPath('/a//b/./c/'), 'a/b/c');
  assert.equal(normalizeExportPath(''), '');
  assert.equal(normalizeExportPath('/'), '');
  assert.throws(() => normalizeExportPath('a/../../etc'), /leaves the export/);
});

test('a control server answers one request per connection through its handlers, on a 0600 socket', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 's3nfs-ctl-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'control.sock');
  const flushed: (string | undefined)[] = [];
  let stops = 0;
  const handlers: ControlHandlers = {
    status: () => status(),
    flush: async (p) => {
      flushed.push(p);
      if (p === 'boom') throw new Error('the write path is closed');
      const report: FlushReport = { files: [{ path: p ?? 'all.txt', outcome: 'published' }], published: 1, failed: 0 };
      return report;
    },
    stop: () => {
      stops++;
      return { stopping: true, pid: 4242 };
    },
  };
  const server = await startControlServer(socket, handlers, silentLogger);
  t.after(() => server.close());
  assert.equal((await stat(socket)).mode & 0o777, 0o600);

  assert.deepEqual(await controlRequest(socket, { op: 'status' }), status());
  assert.deepEqual(await controlRequest(socket, { op: 'flush', path: 'dir/x' }), {
    files: [{ path: 'dir/x', outcome: 'published' }],
    published: 1,
    failed: 0,
  });
  assert.equal((await controlRequest(socket, { op: 'flush' })).published, 1);
  await assert.rejects(
    controlRequest(socket, { op: 'flush', path: 'boom' }),
    (e: unknown) => e instanceof ControlClientError && e.kind === 'failed' && /write path is closed/.test(e.message),
  );
  assert.deepEqual(await controlRequest(socket, { op: 'stop' }), { stopping: true, pid: 4242 });
  assert.deepEqual(flushed, ['dir/x', undefined, 'boom']);
  assert.equal(stops, 1);

  // A malformed request gets an error response, not a hang.
  const raw = await new Promise<string>((resolve) => {
    const s = net.connect({ path: socket }, () => s.write('{"op":"dance"}\n'));
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (text += d));
    s.on('close', () => resolve(text));
  });
  assert.deepEqual(JSON.parse(raw), { ok: false, error: 'unknown op "dance" (status, flush, stop)' });

  // A second server on the same socket is refused while the first answers.
  await assert.rejects(startControlServer(socket, handlers, silentLogger), ControlSocketError);
  await server.close();
  await assert.rejects(
    controlRequest(socket, { op: 'status' }),
    (e: unknown) => e instanceof ControlClientError && e.kind === 'no-server',
  );
});

test('a stale socket file is replaced; an over-long socket path is refused with the reason', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 's3nfs-ctl-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'control.sock');
  await writeFile(socket, 'left over');
  const handlers: ControlHandlers = {
    status: () => status(),
    flush: async () => ({ files: [], published: 0, failed: 0 }),
    stop: () => ({ stopping: true, pid: 1 }),
  };
  const server = await startControlServer(socket, handlers, silentLogger);
  assert.equal((await controlRequest(socket, { op: 'status' })).pid, 4242);
  await server.close();
  await assert.rejects(startControlServer(path.join(dir, 'x'.repeat(120)), handlers, silentLogger), /longer than 107 bytes/);
});

test('status renders exports, listeners, clients, pending uploads and memory', () => {
  const text = renderStatus(status(), new Date('2026-01-01T01:00:00.000Z'));
  assert.match(text, /^s3nfs 0\.1\.0, pid 4242, up 1h 0m \(state \/var\/lib\/s3nfs\)$/m);
  assert.match(text, /export {4}\/photos\/raw {2}s3:\/\/photos\/raw\/ \(read-write\)$/m);
  assert.match(text, /listen {4}127\.0\.0\.1:2049; portmap: serving portmap on port 111/);
  assert.match(text, /127\.0\.0\.1 {2}\(mounted \/photos\/raw, 12 calls, last 3s ago\)/);
  assert.match(text, /uploads {3}1 staged, 1 publishing, 1 failed; 3\.0 MiB not yet in S3/);
  assert.match(text, /staged {5}a\.txt {2}\(1\.0 MiB\)/);
  assert.match(text, /publishing big\.bin {2}\(1\.0 MiB of 2\.0 MiB uploaded\)/);
  assert.match(text, /failed {5}bad\.txt {2}\(10 B, 3 attempts: AccessDenied; next try in 40s\)/);
  assert.match(text, /memory {4}8\.0 MiB of 512\.0 MiB in buffers/);
  assert.equal(formatBytes(1536), '1.5 KiB');
});

test('flush results render one line per file and a summary', () => {
  const text = renderFlush(
    {
      files: [
        { path: 'a', outcome: 'published' },
        { path: 'b', outcome: 'failed', error: 'SlowDown' },
      ],
      published: 1,
      failed: 1,
    },
    '/b',
  );
  assert.equal(text, '  a: published\n  b: FAILED: SlowDown\n1 published, 1 failed, 2 in all\n');
  assert.equal(renderFlush({ files: [], published: 0, failed: 0 }, 'dir'), 'nothing to publish under dir\n');
});

test('flush PATH: a path in a mount is mapped to its server and export path', () => {
  const found = (stateDir: string, s: StatusReport): FoundServer => ({ stateDir, socket: `${stateDir}/control.sock`, status: s });
  const a = found('/s/a', status());
  const b = found('/s/b', status({ exports: [{ path: '/logs', bucket: 'logs', prefix: '', readOnly: false, mountpoint: '/mnt/logs' }] }));
  const mounts = parseMounts(
    '127.0.0.1:/photos/raw /mnt/my\\040photos nfs rw,vers=3 0 0\n' + '10.0.0.1:/photos/raw/2024 /mnt/y nfs rw 0 0\n',
  );
  assert.deepEqual(mounts[0]?.mountpoint, '/mnt/my photos', 'octal escapes are undone');
  const target = (arg: string | undefined, servers = [a, b]) => resolveFlushTarget(arg, servers, mounts, '/');
  assert.deepEqual(target('/mnt/my photos/dir/f.txt'), { server: a, exportPath: 'dir/f.txt' });
  assert.deepEqual(target('/mnt/y/jan'), { server: a, exportPath: '2024/jan' }, 'a mount of a directory inside the export');
  assert.deepEqual(target('/mnt/logs/today.log'), { server: b, exportPath: 'today.log' }, 'the mount point s3nfs mount reported');
  assert.deepEqual(target('/mnt/logs'), { server: b, exportPath: '' });
  assert.deepEqual(target('dir/f.txt', [a]), { server: a, exportPath: 'dir/f.txt' }, 'a path inside the only export');
  assert.deepEqual(target(undefined, [a]), { server: a, exportPath: '' });
  assert.match(JSON.stringify(target(undefined)), /several servers/);
  assert.match(JSON.stringify(target('./x', [a])), /not inside an NFS mount/);
});

test('each mount point gets its own state directory under the default one', () => {
  const one = mountStateDir('/mnt/data', '/var/lib/s3nfs');
  assert.match(one, /^\/var\/lib\/s3nfs\/mounts\/data-[0-9a-f]{10}$/);
  assert.equal(mountStateDir('/mnt/data/', '/var/lib/s3nfs'), one);
  assert.notEqual(mountStateDir('/srv/data', '/var/lib/s3nfs'), one);
  assert.ok(Buffer.byteLength(path.join(mountStateDir('/x'.repeat(100), '/var/lib/s3nfs'), 'control.sock')) <= 107);
});
