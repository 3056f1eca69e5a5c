// READDIR and READDIRPLUS over the wire: paging with tiny and random byte budgets gives every entry
// exactly once, every reply fits the client's count/maxcount, and each reply is filled as far as
// the budget allows (the next entry would not have fit). TOOSMALL and cookie verifiers too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NfsStat3 } from '../../../protocol/nfs3/constants.js';
import { entry3Size, entryplus3Size, readdirResOkBaseSize } from '../../../protocol/nfs3/readdir.js';
import { NFS_PROGRAM, NFS_V3 } from '../../../protocol/nfs3/constants.js';
import { P, lookupPath, withHarness } from './harness.js';
import type { Harness } from './harness.js';

/** Names of many lengths, some multi-byte, in a directory spread over several LIST pages. */
const NAMES = Array.from({ length: 57 }, (_, i) => {
  const stem = i % 3 === 0 ? 'é'.repeat(1 + (i % 11)) : 'n'.repeat(1 + ((i * 7) % 40));
  return `${stem}-${i}`;
});
const OBJECTS: Record<string, string> = Object.fromEntries(NAMES.map((n, i) => [`big/${n}`, 'x'.repeat(i)]));
OBJECTS['big/zsub/inner'] = 'inside';
const EXPECTED = ['.', '..', ...NAMES, 'zsub'].sort();

const HANDLE_BYTES = 24;
const plusSize = (name: string) => entryplus3Size(Buffer.byteLength(name), true, HANDLE_BYTES);
const plainSize = (name: string) => entry3Size(Buffer.byteLength(name));
const BASE = readdirResOkBaseSize(true);

interface Page {
  names: string[];
  cookies: bigint[];
  eof: boolean;
  verifier: Buffer;
  bytes: number;
}

async function readdirPage(h: Harness, dir: Buffer, plus: boolean, cookie: bigint, verifier: Buffer, budget: number): Promise<Page | number> {
  if (plus) {
    const out = await h.client.call(NFS_PROGRAM, NFS_V3, P.READDIRPLUS, { dir, cookie, cookieverf: verifier, dircount: budget >> 3, maxcount: budget });
    assert.equal(out.kind, 'ok');
    assert.ok(out.kind === 'ok');
    const res = out.result;
    if (res.status !== NfsStat3.NFS3_OK) return res.status;
    for (const e of res.resok.reply.entries) {
      assert.ok(e.nameAttributes, `attributes for ${e.name}`);
      assert.equal(e.nameAttributes.fileid, e.fileid);
      assert.equal(e.nameHandle?.length, HANDLE_BYTES);
    }
    const entries = res.resok.reply.entries;
    return { names: entries.map((e) => e.name), cookies: entries.map((e) => e.cookie), eof: res.resok.reply.eof, verifier: res.resok.cookieverf, bytes: out.resultBytes };
  }
  const out = await h.client.call(NFS_PROGRAM, NFS_V3, P.READDIR, { dir, cookie, cookieverf: verifier, count: budget });
  assert.ok(out.kind === 'ok');
  const res = out.result;
  if (res.status !== NfsStat3.NFS3_OK) return res.status;
  const entries = res.resok.reply.entries;
  return { names: entries.map((e) => e.name), cookies: entries.map((e) => e.cookie), eof: res.resok.reply.eof, verifier: res.resok.cookieverf, bytes: out.resultBytes };
}

/** Reads a whole directory with the given budgets (cycled), checking every page as it comes. */
async function readAll(h: Harness, dir: Buffer, plus: boolean, budgets: readonly number[]): Promise<string[]> {
  const size = plus ? plusSize : plainSize;
  const names: string[] = [];
  let cookie = 0n;
  let verifier: Buffer = Buffer.alloc(8);
  let previous: { page: Page; budget: number } | undefined;
  for (let call = 0; ; call++) {
    assert.ok(call < 10_000, 'never reached eof');
    const budget = budgets[call % budgets.length]!;
    const page = await readdirPage(h, dir, plus, cookie, verifier, budget);
    assert.equal(typeof page, 'object', `page ${call} with budget ${budget} failed with status ${String(page)}`);
    assert.ok(typeof page === 'object');
    assert.ok(page.bytes <= budget, `reply of ${page.bytes} bytes fits the budget of ${budget}`);
    if (call > 0) assert.deepEqual(page.verifier, verifier, 'the cookie verifier stays the same for the whole pass');
    if (previous && page.names.length > 0) {
      assert.ok(
        previous.page.bytes + size(page.names[0]!) > previous.budget,
        `the previous reply (${previous.page.bytes} of ${previous.budget} bytes) had no room for '${page.names[0]}'`,
      );
    }
    names.push(...page.names);
    if (page.eof) return names;
    assert.ok(page.names.length > 0, 'a reply before eof has entries');
    cookie = page.cookies[page.cookies.length - 1]!;
    verifier = page.verifier;
    previous = { page, budget };
  }
}

function smallestBudget(plus: boolean): number {
  // Room for the fixed part and the longest name, so no budget in the test is TOOSMALL.
  const longest = Math.max(...EXPECTED.map((n) => (plus ? plusSize(n) : plainSize(n))));
  return BASE + longest;
}

test('READDIRPLUS with tiny budgets returns every entry exactly once, each reply full and within maxcount', async () => {
  await withHarness({ objects: OBJECTS, pageSize: 5 }, async (h) => {
    const dir = await lookupPath(h, 'big');
    const min = smallestBudget(true);
    for (const budgets of [[min], [min + 1, min + 150, min + 3], [4096], [1 << 20]]) {
      const names = await readAll(h, dir, true, budgets);
      assert.deepEqual([...names].sort(), EXPECTED, `budgets ${budgets.join(',')}`);
      assert.equal(new Set(names).size, names.length);
    }
  });
});

test('READDIR with tiny budgets returns every entry exactly once, each reply full and within count', async () => {
  await withHarness({ objects: OBJECTS, pageSize: 4 }, async (h) => {
    const dir = await lookupPath(h, 'big');
    const min = smallestBudget(false);
    for (const budgets of [[min], [min + 5, min + 40], [8192]]) {
      const names = await readAll(h, dir, false, budgets);
      assert.deepEqual([...names].sort(), EXPECTED, `budgets ${budgets.join(',')}`);
    }
  });
});

test('property: any sequence of budgets pages through the whole directory', async () => {
  await withHarness({ objects: OBJECTS, pageSize: 6 }, async (h) => {
    const dir = await lookupPath(h, 'big');
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 8 }),
        async (plus, extras) => {
          const budgets = extras.map((x) => smallestBudget(plus) + x);
          const names = await readAll(h, dir, plus, budgets);
          assert.deepEqual([...names].sort(), EXPECTED);
        },
      ),
      { numRuns: 40 },
    );
  });
});

test('a budget that cannot hold one entry is TOOSMALL; a budget for exactly one entry gets one', async () => {
  await withHarness({ objects: { 'd/file': 'x' } }, async (h) => {
    const dir = await lookupPath(h, 'd');
    const zero = Buffer.alloc(8);
    for (const plus of [true, false]) {
      const one = BASE + (plus ? plusSize('.') : plainSize('.'));
      assert.equal(await readdirPage(h, dir, plus, 0n, zero, one - 1), NfsStat3.NFS3ERR_TOOSMALL);
      assert.equal(await readdirPage(h, dir, plus, 0n, zero, 8), NfsStat3.NFS3ERR_TOOSMALL);
      const page = await readdirPage(h, dir, plus, 0n, zero, one);
      assert.ok(typeof page === 'object');
      assert.deepEqual(page.names, ['.']);
      assert.equal(page.bytes, one, 'the reply is exactly the budget');
      assert.equal(page.eof, false);
    }
  });
});

test('the cookie verifier is checked: a continuation with a verifier the server never gave is BAD_COOKIE', async () => {
  await withHarness({ objects: OBJECTS }, async (h) => {
    const dir = await lookupPath(h, 'big');
    const first = await readdirPage(h, dir, true, 0n, Buffer.alloc(8), smallestBudget(true));
    assert.ok(typeof first === 'object');
    const bogus = Buffer.from(first.verifier);
    bogus[7] ^= 0xff;
    const status = await readdirPage(h, dir, true, first.cookies.at(-1)!, bogus, 4096);
    assert.equal(status, NfsStat3.NFS3ERR_BAD_COOKIE);
    const good = await readdirPage(h, dir, true, first.cookies.at(-1)!, first.verifier, 4096);
    assert.equal(typeof good, 'object');
  });
});

test("READDIRPLUS gives '.' and '..' the right file ids and handles that work", async () => {
  await withHarness({ objects: OBJECTS }, async (h) => {
    const dir = await lookupPath(h, 'big');
    const res = await h.client.ok(NFS_PROGRAM, NFS_V3, P.READDIRPLUS, { dir, cookie: 0n, cookieverf: Buffer.alloc(8), dircount: 512, maxcount: 65536 });
    assert.ok(res.status === NfsStat3.NFS3_OK);
    const byName = new Map(res.resok.reply.entries.map((e) => [e.name, e]));
    assert.equal(byName.get('..')?.fileid, h.fs.rootId);
    const sub = byName.get('zsub');
    assert.ok(sub?.nameHandle);
    const inner = await h.client.ok(NFS_PROGRAM, NFS_V3, P.LOOKUP, { what: { dir: sub.nameHandle, name: 'inner' } });
    assert.equal(inner.status, NfsStat3.NFS3_OK);
    assert.equal(res.resok.dirAttributes?.fileid, byName.get('.')?.fileid);
  });
});
