// Golden vectors: every message captured from real clients (Linux kernel, libnfs) talking to a
// reference server decodes with protocol/ and re-encodes to exactly the same bytes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, encodeMessage } from '../../../protocol/programs.js';
import { MsgType } from '../../../protocol/rpc.js';
import { MOUNT_PROGRAM, MountProc } from '../../../protocol/mount.js';
import { NFS3, NFS_PROGRAM, Nfs3Proc } from '../../../protocol/nfs3/index.js';
import { PMAP_PROGRAM, PmapProc } from '../../../protocol/portmap.js';
import { goldenDir, loadGolden } from './golden-fixtures.js';

test('golden vectors from real clients decode and re-encode byte for byte', (t) => {
  const records = loadGolden();
  assert.ok(records.length > 0, `no golden fixtures (*.jsonl) in ${goldenDir()}`);

  const skipped = new Map<string, number>();
  const covered = new Map<string, number>();
  const failures: string[] = [];
  let views = 0;
  for (const rec of records) {
    const where = `${rec.file}:${rec.line} (${rec.dir} prog ${rec.prog} vers ${rec.vers} proc ${rec.proc} xid ${rec.xid})`;
    try {
      const key = { prog: rec.prog, vers: rec.vers, proc: rec.proc };
      const m = decodeMessage(rec.bytes, key);
      if (!m) {
        const k = `${rec.prog}/${rec.vers}`;
        skipped.set(k, (skipped.get(k) ?? 0) + 1);
        continue;
      }
      const h = m.header;
      assert.equal(h.type === MsgType.CALL ? 'call' : 'reply', rec.dir, 'message direction');
      assert.equal(h.type === MsgType.CALL ? h.call.xid : h.reply.xid, rec.xid, 'xid');
      if (h.type === MsgType.CALL) {
        assert.deepEqual([h.call.prog, h.call.vers, h.call.proc], [rec.prog, rec.vers, rec.proc], 'procedure');
      }
      const again = encodeMessage(m, key);
      if (!again.equals(rec.bytes)) {
        assert.fail(`re-encoded bytes differ\n  got  ${again.toString('hex')}\n  want ${rec.bytes.toString('hex')}`);
      }
      // Payloads of real traffic are views of the message, never copies.
      const body = m.body as { data?: unknown; resok?: { data?: unknown } } | undefined;
      const payload = rec.prog === NFS_PROGRAM && rec.proc === Nfs3Proc.WRITE && rec.dir === 'call' ? body?.data
        : rec.prog === NFS_PROGRAM && rec.proc === Nfs3Proc.READ && rec.dir === 'reply' ? body?.resok?.data
        : undefined;
      if (payload !== undefined) {
        assert.ok(Buffer.isBuffer(payload) && payload.buffer === rec.bytes.buffer, 'READ/WRITE data is a view of the message');
        views++;
      }
      const name = `${rec.prog}/${rec.vers}/${rec.proc} ${rec.dir}`;
      covered.set(name, (covered.get(name) ?? 0) + 1);
    } catch (e) {
      failures.push(`${where}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  const files = new Set(records.map((r) => r.file));
  t.diagnostic(`${records.length} messages in ${files.size} files; ${[...covered.values()].reduce((a, b) => a + b, 0)} checked`);
  t.diagnostic(`covered (prog/vers/proc dir ×count): ${[...covered].sort().map(([k, n]) => `${k}×${n}`).join(', ')}`);
  if (skipped.size > 0) {
    t.diagnostic(`skipped, program unknown to protocol/ (prog/vers ×count): ${[...skipped].map(([k, n]) => `${k}×${n}`).join(', ')}`);
  }
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} of ${records.length} golden messages failed`);
  assert.ok(views > 0, 'the fixtures hold READ replies or WRITE calls with data');

  // The proof covers the whole of NFSv3 and the mount path: every procedure, both directions.
  const required = [
    ...[...NFS3.byNumber.keys()].map((proc) => `${NFS_PROGRAM}/3/${proc}`),
    ...[MountProc.NULL, MountProc.MNT, MountProc.UMNT, MountProc.EXPORT].map((proc) => `${MOUNT_PROGRAM}/3/${proc}`),
    `${PMAP_PROGRAM}/2/${PmapProc.GETPORT}`,
  ];
  const missing = required.flatMap((k) => ['call', 'reply'].filter((d) => !covered.has(`${k} ${d}`)).map((d) => `${k} ${d}`));
  assert.deepEqual(missing, [], 'procedures missing from the golden fixtures');
});
