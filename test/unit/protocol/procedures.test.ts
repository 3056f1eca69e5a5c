// Property: for every procedure of every program, decode(encode(x)) == x for its arguments and
// its results, and the encoding of a decoded value is the bytes it came from.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { XdrReader, XdrWriter } from '../../../protocol/xdr.js';
import type { Codec } from '../../../protocol/xdr.js';
import { MOUNT3 } from '../../../protocol/mount.js';
import { NFS3 } from '../../../protocol/nfs3/program.js';
import { PMAP2 } from '../../../protocol/portmap.js';
import { RPCB3, RPCB4 } from '../../../protocol/rpcbind.js';
import { NFSACL3 } from '../../../protocol/nfsacl.js';
import type { AnyProcedureCodecs, ProgramCodecs } from '../../../protocol/program.js';
import {
  MOUNT3_ARBITRARIES,
  NFS3_ARBITRARIES,
  PMAP2_ARBITRARIES,
  RPCB3_ARBITRARIES,
  RPCB4_ARBITRARIES,
  NFSACL3_ARBITRARIES,
  plain,
} from './arbitraries.js';
import type { ProcedureArbitraries } from './arbitraries.js';

function roundTrip(codec: Codec<unknown>, v: unknown): void {
  const w = new XdrWriter();
  codec.encode(w, v);
  const bytes = w.toBuffer();
  assert.equal(bytes.length % 4, 0, 'XDR is a whole number of 4-byte units');
  const r = new XdrReader(bytes);
  const back = codec.decode(r);
  assert.equal(r.remaining(), 0, 'decoding consumes exactly what encoding wrote');
  assert.deepEqual(plain(back), plain(v));
  const again = new XdrWriter();
  codec.encode(again, back);
  assert.deepEqual(again.toBuffer(), bytes);
}

const programs: [ProgramCodecs<Record<string, AnyProcedureCodecs>>, Record<string, ProcedureArbitraries>][] = [
  [NFS3, NFS3_ARBITRARIES],
  [MOUNT3, MOUNT3_ARBITRARIES],
  [PMAP2, PMAP2_ARBITRARIES],
  [RPCB3, RPCB3_ARBITRARIES],
  [RPCB4, RPCB4_ARBITRARIES],
  [NFSACL3, NFSACL3_ARBITRARIES],
];

for (const [program, arbitraries] of programs) {
  test(`${program.name} v${program.vers}: every procedure has arbitraries and a unique number`, () => {
    assert.deepEqual(Object.keys(program.procedures).sort(), Object.keys(arbitraries).sort());
    assert.equal(program.byNumber.size, Object.keys(program.procedures).length);
    for (const [n, p] of program.byNumber) assert.equal(p.proc, n);
  });

  for (const [name, p] of Object.entries(program.procedures)) {
    const arb = arbitraries[name];
    if (!arb) continue; // reported by the test above
    test(`property: ${program.name} ${name} arguments and results round-trip`, () => {
      fc.assert(fc.property(arb.args, (v) => roundTrip(p.args, v)));
      fc.assert(fc.property(arb.res, (v) => roundTrip(p.res, v)));
    });
  }
}

test('the NFSv3 table has all 22 procedures numbered as RFC 1813 says', () => {
  const expected = [
    'NULL', 'GETATTR', 'SETATTR', 'LOOKUP', 'ACCESS', 'READLINK', 'READ', 'WRITE', 'CREATE', 'MKDIR', 'SYMLINK',
    'MKNOD', 'REMOVE', 'RMDIR', 'RENAME', 'LINK', 'READDIR', 'READDIRPLUS', 'FSSTAT', 'FSINFO', 'PATHCONF', 'COMMIT',
  ];
  assert.deepEqual(
    expected.map((_, i) => NFS3.byNumber.get(i)?.name),
    expected,
  );
  assert.equal(NFS3.prog, 100003);
  assert.equal(NFS3.vers, 3);
});
