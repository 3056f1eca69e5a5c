// Relative links in the README and docs/ point at files that exist, and #anchors at headings that
// exist (by GitHub's rule for heading ids), so a renamed heading or file cannot leave a dead link.

import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { readRepoFile, repoRoot } from './markdown.js';

/** GitHub's id for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const out = new Set<string>();
  const withoutCode = markdown.replace(/^```[^\n]*\n[\s\S]*?^```/gm, '');
  for (const m of withoutCode.matchAll(/^#{1,6}\s+(.*?)\s*$/gm)) out.add(slug(m[1]!));
  return out;
}

function markdownFiles(): string[] {
  const docs = readdirSync(path.join(repoRoot(), 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

test('relative links and anchors in README.md and docs/*.md resolve', () => {
  const dead: string[] = [];
  for (const file of markdownFiles()) {
    const text = readRepoFile(file).replace(/^```[^\n]*\n[\s\S]*?^```/gm, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue; // http:, https:, mailto:
      const [where, anchor] = target.split('#') as [string, string | undefined];
      const resolved = where === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), where));
      if (!existsSync(path.join(repoRoot(), resolved))) {
        dead.push(`${file}: ${target} (no ${resolved})`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(readRepoFile(resolved)).has(anchor)) {
        dead.push(`${file}: ${target} (no heading #${anchor} in ${resolved})`);
      }
    }
  }
  assert.deepEqual(dead, []);
});
