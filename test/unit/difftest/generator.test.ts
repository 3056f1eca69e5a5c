// The difftest's operation generator and its tree model: deterministic and prefix-stable sequences,
// only operations the server's flags allow, the failure cases and file sizes the test is meant to
// cover, and the model's predictions for hand-picked cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { planSequence } from '../../difftest/generator.js';
import { TreeModel } from '../../difftest/model.js';
import { defaultFeatures, parseFeatures, type Features, type PlannedOp } from '../../difftest/ops.js';

const MiB = 1024 * 1024;
const all: Features = parseFeatures('allow-delete,allow-overwrite,append,rename,pauses');

function plans(features: Features, seeds: number, ops: number): PlannedOp[] {
  const out: PlannedOp[] = [];
  for (let seed = 1; seed <= seeds; seed++) out.push(...planSequence(seed, ops, { features }));
  return out;
}

test('a seed always gives the same sequence, and a longer run starts with the shorter one', () => {
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), fc.integer({ min: 1, max: 120 }), (seed, n) => {
      const short = planSequence(seed, n, { features: all });
      assert.deepEqual(short, planSequence(seed, n, { features: all }));
      assert.deepEqual(planSequence(seed, n + 40, { features: all }).slice(0, n), short);
    }),
    { numRuns: 30 },
  );
  assert.notDeepEqual(planSequence(1, 50, { features: all }), planSequence(2, 50, { features: all }));
});

test('without the server flags there is no unlink, overwrite, append, rename or pause except refused ones', () => {
  const planned = plans(defaultFeatures, 20, 200);
  for (const p of planned) {
    assert.ok(!['append', 'pause'].includes(p.op.kind), p.op.kind);
    if (p.op.kind === 'rename') assert.equal(p.refused, 'always', JSON.stringify(p));
    if (p.op.kind === 'unlink' || p.op.kind === 'overwrite') assert.equal(p.refused, 'unless-staged', JSON.stringify(p));
  }
  const refusedKinds = new Set(planned.filter((p) => p.refused).map((p) => p.op.kind));
  assert.deepEqual([...refusedKinds].sort(), ['overwrite', 'rename', 'unlink']);

  const none = plans(parseFeatures('no-refusals'), 20, 200);
  assert.ok(none.every((p) => !p.refused && !['unlink', 'overwrite', 'append', 'rename', 'pause'].includes(p.op.kind)));
});

test('with every flag each operation kind comes up, and nothing is refused', () => {
  const planned = plans(all, 10, 300);
  const kinds = new Set(planned.map((p) => p.op.kind));
  for (const k of ['create', 'overwrite', 'append', 'readWhole', 'readRange', 'stat', 'readdir', 'mkdir', 'rmdir', 'unlink', 'rename', 'pause']) {
    assert.ok(kinds.has(k as PlannedOp['op']['kind']), `no ${k} in 3000 operations`);
  }
  assert.ok(planned.every((p) => !p.refused));
});

test('sequences aim at the failures both trees must report alike', () => {
  const expected = new Map<string, Set<string>>();
  for (const p of plans(parseFeatures('allow-delete'), 10, 300)) {
    if (p.expect === 'ok') continue;
    (expected.get(p.op.kind) ?? expected.set(p.op.kind, new Set()).get(p.op.kind)!).add(p.expect);
  }
  const has = (kind: string, code: string) => assert.ok(expected.get(kind)?.has(code), `${kind} → ${code} never planned`);
  has('mkdir', 'EEXIST');
  has('mkdir', 'ENOENT');
  has('mkdir', 'ENOTDIR');
  has('rmdir', 'ENOTEMPTY');
  has('rmdir', 'ENOTDIR');
  has('rmdir', 'ENOENT');
  has('create', 'EEXIST');
  has('create', 'EISDIR');
  has('create', 'ENOENT');
  has('readWhole', 'EISDIR');
  has('readWhole', 'ENOENT');
  has('readRange', 'ENOTDIR');
  has('readdir', 'ENOTDIR');
  has('stat', 'ENOENT');
  has('unlink', 'EISDIR');
  has('unlink', 'ENOENT');
});

test('file sizes include empty, one byte, 4 KiB boundaries and several MiB across 1 MiB boundaries', () => {
  const sizes = plans(defaultFeatures, 10, 300).flatMap((p) => (p.op.kind === 'create' ? [p.op.size] : []));
  assert.ok(sizes.includes(0));
  assert.ok(sizes.includes(1));
  assert.ok(sizes.some((s) => s % 4096 === 0 && s > 0));
  assert.ok(sizes.some((s) => s % 4096 === 4095));
  assert.ok(sizes.some((s) => s % 4096 === 1 && s > 1));
  assert.ok(sizes.some((s) => s > 2 * MiB && s % MiB !== 0));
  assert.ok(sizes.some((s) => s === MiB || s === MiB - 1 || s === MiB + 1));
});

test('the tree budget bounds the bytes a sequence writes', () => {
  for (let seed = 1; seed <= 5; seed++) {
    const model = new TreeModel();
    for (const p of planSequence(seed, 400, { features: all, maxTreeBytes: 3 * MiB })) {
      if (p.expect === 'ok' && !p.refused) model.apply(p.op);
    }
    assert.ok(model.totalFileBytes() <= 3 * MiB + 4096, `seed ${seed}: ${model.totalFileBytes()} bytes`);
  }
});

test('the model predicts what Linux answers', () => {
  const m = new TreeModel();
  const payload = { size: 3, content: 1, chunk: 3 };
  const apply = (op: Parameters<TreeModel['predict']>[0]) => {
    const r = m.predict(op);
    if (r === 'ok') m.apply(op);
    return r;
  };
  assert.equal(apply({ kind: 'mkdir', path: 'd', recursive: false }), 'ok');
  assert.equal(apply({ kind: 'mkdir', path: 'd', recursive: false }), 'EEXIST');
  assert.equal(apply({ kind: 'mkdir', path: 'd', recursive: true }), 'ok');
  assert.equal(apply({ kind: 'mkdir', path: 'x/y', recursive: false }), 'ENOENT');
  assert.equal(apply({ kind: 'create', path: 'd/f', exclusive: true, ...payload }), 'ok');
  assert.equal(apply({ kind: 'create', path: 'd/f', exclusive: true, ...payload }), 'EEXIST');
  assert.equal(apply({ kind: 'create', path: 'd', exclusive: false, ...payload }), 'EISDIR');
  assert.equal(apply({ kind: 'create', path: 'd/f/g', exclusive: true, ...payload }), 'ENOTDIR');
  assert.equal(apply({ kind: 'mkdir', path: 'd/f', recursive: true }), 'EEXIST');
  assert.equal(apply({ kind: 'mkdir', path: 'd/f/g', recursive: true }), 'ENOTDIR');
  assert.equal(apply({ kind: 'rmdir', path: 'd' }), 'ENOTEMPTY');
  assert.equal(apply({ kind: 'rmdir', path: 'd/f' }), 'ENOTDIR');
  assert.equal(apply({ kind: 'readWhole', path: 'd' }), 'EISDIR');
  assert.equal(apply({ kind: 'readdir', path: 'd/f' }), 'ENOTDIR');
  assert.equal(apply({ kind: 'stat', path: 'd/missing' }), 'ENOENT');
  assert.equal(apply({ kind: 'unlink', path: 'd' }), 'EISDIR');
  assert.equal(apply({ kind: 'append', path: 'd/f', ...payload }), 'ok');
  assert.deepEqual(m.get('d/f'), { kind: 'file', size: 6 });
  assert.equal(apply({ kind: 'rename', from: 'd/f', to: 'g' }), 'ok');
  assert.equal(apply({ kind: 'rmdir', path: 'd' }), 'ok');
  assert.deepEqual(m.paths(), ['', 'g']);
});
