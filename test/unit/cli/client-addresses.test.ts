// --allow-client ranges and the admission policy built from them: who is let in, who is refused
// (AUTH_TOOWEAK), and that each refused client is logged once with its reason.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MOUNT_PROGRAM, MountProc } from '../../../protocol/mount.js';
import { NFS_PROGRAM, Nfs3Proc } from '../../../protocol/nfs3/constants.js';
import { AuthFlavor, AuthStat } from '../../../protocol/rpc.js';
import { serveAdmission, type RefusalReason } from '../../../src/cli/admission.js';
import {
  ClientAllowList,
  isLoopbackListen,
  parseClientRange,
  parseClientRanges,
} from '../../../src/cli/client-addresses.js';
import type { LogFields, LogSink } from '../../../src/log/logger.js';
import type { CallInfo } from '../../../src/server/index.js';

class Lines implements LogSink {
  readonly lines: { level: string; msg: string; fields?: LogFields }[] = [];
  error(msg: string, fields?: LogFields): void {
    this.lines.push({ level: 'error', msg, ...(fields ? { fields } : {}) });
  }
  warn(msg: string, fields?: LogFields): void {
    this.lines.push({ level: 'warn', msg, ...(fields ? { fields } : {}) });
  }
  info(msg: string, fields?: LogFields): void {
    this.lines.push({ level: 'info', msg, ...(fields ? { fields } : {}) });
  }
  debug(msg: string, fields?: LogFields): void {
    this.lines.push({ level: 'debug', msg, ...(fields ? { fields } : {}) });
  }
}

function call(address: string, port: number, program = NFS_PROGRAM, procedure: number = Nfs3Proc.GETATTR): CallInfo {
  return {
    xid: 1,
    program,
    version: 3,
    procedure,
    client: { address, port },
    connectionId: 1,
    cred: { flavor: AuthFlavor.AUTH_NONE },
  };
}

test('ranges parse to ADDRESS/BITS; bare addresses are single hosts', () => {
  assert.deepEqual(parseClientRange('10.0.0.0/8'), { text: '10.0.0.0/8', address: '10.0.0.0', bits: 8, family: 'ipv4' });
  assert.equal(parseClientRange('192.168.1.5').text, '192.168.1.5/32');
  assert.equal(parseClientRange('[fd00::1]').text, 'fd00::1/128');
  assert.equal(parseClientRange('fd00::/8').family, 'ipv6');
  assert.deepEqual(
    parseClientRanges(' 10.0.0.0/8 , ,::/0').map((r) => r.text),
    ['10.0.0.0/8', '::/0'],
  );
  assert.throws(() => parseClientRange('10.0.0/8'), /not an IP address/);
  assert.throws(() => parseClientRange('::/129'), /0 to 128/);
  assert.throws(() => parseClientRange('10.0.0.0/-1'), /0 to 32/);
});

test('an allow-list admits its ranges and loopback, nothing else', () => {
  const list = new ClientAllowList(parseClientRanges('192.168.1.0/24,10.1.2.3,fd00::/16'));
  assert.equal(list.allows('192.168.1.200'), true);
  assert.equal(list.allows('192.168.2.1'), false);
  assert.equal(list.allows('10.1.2.3'), true);
  assert.equal(list.allows('10.1.2.4'), false);
  assert.equal(list.allows('fd00:1::5'), true);
  assert.equal(list.allows('fe80::1'), false);
  assert.equal(list.allows('::ffff:192.168.1.9'), true, 'IPv4-mapped addresses match IPv4 ranges');
  assert.equal(list.allows('127.0.0.1'), true, 'loopback is always in');
  assert.equal(list.allows('::1'), true);
  assert.equal(list.allows('not-an-address'), false);
});

test('an IPv4 range admits exactly the addresses that share its first BITS bits', () => {
  const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
  fc.assert(
    fc.property(ip, ip, fc.integer({ min: 1, max: 32 }), (net, addr, bits) => {
      const toInt = (q: number[]) => q.reduce((n, b) => n * 256 + b, 0);
      const text = (q: number[]) => q.join('.');
      if (net[0] === 127 || addr[0] === 127) return; // loopback is always admitted
      const list = new ClientAllowList([parseClientRange(`${text(net)}/${bits}`)]);
      const shift = 2 ** (32 - bits);
      const same = Math.floor(toInt(net) / shift) === Math.floor(toInt(addr) / shift);
      assert.equal(list.allows(text(addr)), same);
    }),
  );
});

test('an allow-list answers the same when asked again, past the addresses it remembers', () => {
  const list = new ClientAllowList(parseClientRanges('10.0.0.0/9'));
  // 3,000 addresses (more than the 1,024 answers kept), asked in two rounds.
  const addresses = Array.from({ length: 3000 }, (_, i) => `10.${(i * 7) % 256}.${i % 256}.${(i >> 8) & 255}`);
  for (let round = 0; round < 2; round++) {
    for (const a of addresses) assert.equal(list.allows(a), Number(a.split('.')[1]) < 128, `${a}, round ${round}`);
  }
});

test('loopback listen addresses stay on this machine; anything else does not', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '[::1]']) assert.equal(isLoopbackListen(a), true, a);
  for (const a of ['0.0.0.0', '::', '192.168.1.1', 'fd00::1', 'myhost']) assert.equal(isLoopbackListen(a), false, a);
});

test('admission: outside the allow-list is refused with AUTH_TOOWEAK, logged once per client with the reason', () => {
  const log = new Lines();
  const refusals: RefusalReason[] = [];
  const admitted: string[] = [];
  const policy = serveAdmission(true, log, {
    allowList: new ClientAllowList(parseClientRanges('10.0.0.0/8')),
    onRefused: (r) => refusals.push(r),
    onAdmitted: (c) => admitted.push(c.client.address),
  });
  assert.ok(policy);
  const refused = { admit: false, authStat: AuthStat.AUTH_TOOWEAK };
  assert.deepEqual(policy(call('192.168.0.9', 700)), refused);
  assert.deepEqual(policy(call('192.168.0.9', 701, MOUNT_PROGRAM, MountProc.EXPORT)), refused, 'nothing is exempt');
  assert.deepEqual(policy(call('192.168.0.10', 702, NFS_PROGRAM, 0)), refused, 'not even NULL');
  assert.deepEqual(policy(call('10.2.3.4', 40000)), { admit: true }, '--insecure: any port');
  assert.deepEqual(refusals, ['not_allowed', 'not_allowed', 'not_allowed']);
  assert.deepEqual(admitted, ['10.2.3.4']);
  const warnings = log.lines.filter((l) => l.level === 'warn');
  assert.deepEqual(
    warnings.map((w) => w.fields?.['client']),
    ['192.168.0.9', '192.168.0.10'],
    'one warning per refused address',
  );
  assert.equal(warnings[0]?.fields?.['reason'], 'not_allowed');
});

test('admission: both rules at once; an allowed client still needs a privileged port', () => {
  const log = new Lines();
  const refusals: RefusalReason[] = [];
  const policy = serveAdmission(false, log, {
    allowList: new ClientAllowList(parseClientRanges('10.0.0.0/8')),
    onRefused: (r) => refusals.push(r),
  });
  assert.ok(policy);
  assert.deepEqual(policy(call('10.0.0.1', 1023)), { admit: true });
  assert.equal(policy(call('10.0.0.1', 1024)).admit, false);
  assert.equal(policy(call('10.0.0.1', 50000)).admit, false);
  assert.equal(policy(call('10.0.0.1', 50000, NFS_PROGRAM, 0)).admit, true, 'NULL from any port');
  assert.equal(policy(call('11.0.0.1', 600)).admit, false);
  assert.deepEqual(refusals, ['insecure_port', 'insecure_port', 'not_allowed']);
  const warned = log.lines.filter((l) => l.level === 'warn').map((l) => l.fields?.['reason']);
  assert.deepEqual(warned, ['insecure_port', 'not_allowed']);
});
