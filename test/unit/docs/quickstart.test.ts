// README.md's quick start is two commands; both must be there, as executable scripts with a
// shebang, so that a fresh checkout can run them as written.

import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { readRepoFile, repoRoot, section } from './markdown.js';

/** The commands of the first shell block in the README's quick start, without their comments. */
function quickStartCommands(): string[] {
  const text = section(readRepoFile('README.md'), 'Quick start (fresh Debian machine, as root)');
  const block = /```sh\n([\s\S]*?)```/.exec(text);
  assert.ok(block, 'the quick start has a ```sh block');
  return block[1]!
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line !== '');
}

test('README quick start: exactly ./scripts/quickstart.sh and ./scripts/test.sh, both executable scripts', () => {
  const commands = quickStartCommands();
  assert.deepEqual(commands, ['./scripts/quickstart.sh', './scripts/test.sh']);
  for (const command of commands) {
    const file = path.join(repoRoot(), command);
    const stat = statSync(file);
    assert.ok(stat.isFile(), `${command} is a file`);
    assert.equal(stat.mode & 0o111, 0o111, `${command} is executable by everyone (mode ${(stat.mode & 0o777).toString(8)})`);
    const first = readFileSync(file, 'utf8').split('\n')[0];
    assert.match(first ?? '', /^#!\/usr\/bin\/env bash$|^#!\/bin\/(ba)?sh$/, `${command} starts with a shebang`);
  }
});
