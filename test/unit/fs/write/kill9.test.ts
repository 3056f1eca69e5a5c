// kill -9 at an arbitrary moment loses nothing a COMMIT reported stable, and recovery never
// publishes a partial object: each file ends up exactly as one of its committed states.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { crashFileData } from './crash-plan.js';
import { memoryStore, openWritePath, sha, tempDir } from './helpers.js';

const CHILD = fileURLToPath(new URL('./crash-child.js', import.meta.url));

/** Runs the child until it has reported `fullCommits` whole files (plus a little), then SIGKILLs it. */
async function runAndKill(dir: string, fullCommits: number, extraMs: number): Promise<string[]> {
  const child = spawn(process.execPath, [CHILD, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buffered = '';
  let full = 0;
  let killTimer: NodeJS.Timeout | undefined;
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    buffered += text;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      if (line.startsWith('full ') && ++full === fullCommits && !killTimer) {
        killTimer = setTimeout(() => child.kill('SIGKILL'), extraMs);
      }
    }
  });
  const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(guard);
  clearTimeout(killTimer);
  assert.equal(child.signalCode, 'SIGKILL', 'the child was killed, it did not fail on its own');
  return lines;
}

for (const [round, fullCommits, extraMs] of [
  [1, 2, 0],
  [2, 5, 3],
  [3, 9, 11],
] as const) {
  test(`kill -9 while writing (round ${round}): committed states survive, nothing partial is published`, async (t) => {
    const dir = await tempDir(t, 'kill9');
    const lines = await runAndKill(dir, fullCommits, extraMs);
    const reported = new Map<string, 'created' | 'half' | 'full'>();
    for (const line of lines) {
      const [what, key] = line.split(' ') as ['created' | 'half' | 'full', string];
      reported.set(key, what);
    }

    const store = memoryStore();
    const wp = await openWritePath(t, dir, store);
    await wp.orphanCleanup;
    const results = await wp.flush();
    assert.ok(results.every((r) => r.outcome === 'published'), JSON.stringify(results));

    for (let i = 0; ; i++) {
      const { key, data, half } = crashFileData(i);
      const object = store.getSync(key);
      const states = {
        empty: sha(Buffer.alloc(0)),
        half: sha(data.subarray(0, half)),
        full: sha(data),
      };
      const got = object === undefined ? 'none' : sha(object);
      const status = reported.get(key);
      if (status === 'full') assert.equal(got, states.full, `${key} was fully committed`);
      else if (status === 'half') assert.ok([states.half, states.full].includes(got), `${key}: half or full`);
      else if (status === 'created') assert.ok(Object.values(states).includes(got), `${key}: a committed state`);
      else {
        // Never reported: the child may have been inside CREATE or anything after it.
        assert.ok(got === 'none' || Object.values(states).includes(got), `${key}: a committed state`);
        if (got === 'none') break;
      }
    }
    assert.equal(store.pendingUploads().length, 0);
  });
}
