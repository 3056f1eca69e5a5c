import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgramRegistry, implement, nullProcedure } from '../../../src/server/program.js';
import { programCodecs } from '../../../protocol/program.js';
import { XdrReader, XdrWriter, uint32 } from '../../../protocol/xdr.js';

test('lookup tells unknown program, version and procedure apart', () => {
  const r = new ProgramRegistry();
  const nul = nullProcedure();
  r.register({ name: 'mount', program: 100005, versions: { 3: { 0: nul } } });
  r.register({ name: 'mount', program: 100005, versions: { 1: { 0: nul } } });
  assert.deepEqual(r.lookup(100005, 3, 0), { kind: 'found', programName: 'mount', procedure: nul });
  assert.deepEqual(r.lookup(100005, 2, 0), { kind: 'prog-mismatch', low: 1, high: 3 });
  assert.deepEqual(r.lookup(100005, 3, 1), { kind: 'proc-unavail' });
  assert.deepEqual(r.lookup(100003, 3, 0), { kind: 'prog-unavail' });
  // Inherited object properties are not procedures.
  assert.deepEqual(r.lookup(100005, 3, 'constructor' as unknown as number), { kind: 'proc-unavail' });
  assert.deepEqual(r.list(), [
    { program: 100005, version: 1, name: 'mount' },
    { program: 100005, version: 3, name: 'mount' },
  ]);
});

test('a version cannot be registered twice, and a program needs a version', () => {
  const r = new ProgramRegistry();
  r.register({ name: 'nfs', program: 100003, versions: { 3: {} } });
  assert.throws(() => r.register({ name: 'nfs', program: 100003, versions: { 3: {} } }), /already registered/);
  assert.throws(() => r.register({ name: 'x', program: 1, versions: {} }), /no versions/);
  // The failed registration left the registry unchanged.
  assert.deepEqual(r.lookup(1, 0, 0), { kind: 'prog-unavail' });
});

test('implement binds a handler to a procedure of a protocol table', async () => {
  const table = programCodecs('t', 0x20000001, 1, { DOUBLE: { proc: 1, args: uint32, res: uint32, idempotent: false } });
  const p = implement(table.procedures.DOUBLE, (n: number) => n * 2);
  assert.equal(p.name, 'DOUBLE');
  assert.equal(p.idempotent, false);
  const w = new XdrWriter();
  w.uint32(21);
  const call = p.decodeArgs(new XdrReader(w.toBuffer()));
  const encode = await call.run({
    xid: 1,
    program: 0x20000001,
    version: 1,
    procedure: 1,
    client: { address: '127.0.0.1', port: 1 },
    connectionId: 1,
    cred: { flavor: 0 },
  });
  const out = new XdrWriter();
  encode(out);
  assert.deepEqual(out.toBuffer(), Buffer.from('0000002a', 'hex'));
});
