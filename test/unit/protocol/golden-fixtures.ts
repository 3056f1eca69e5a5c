// Loads the captured RPC traffic in test/fixtures/golden/<client>-<scenario>.jsonl: one message per
// line, `{"dir":"call"|"reply","prog":N,"vers":N,"proc":N,"xid":N,"hex":"..."}` (no record mark).
// S3NFS_GOLDEN_DIR points elsewhere (e.g. a capture being made).

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface GoldenRecord {
  file: string;
  line: number;
  dir: 'call' | 'reply';
  prog: number;
  vers: number;
  proc: number;
  xid: number;
  bytes: Buffer;
}

/** test/fixtures/golden of the repository (this file runs from dist/test/unit/protocol). */
export function goldenDir(): string {
  return process.env.S3NFS_GOLDEN_DIR ?? fileURLToPath(new URL('../../../../test/fixtures/golden/', import.meta.url));
}

function field(o: Record<string, unknown>, k: string, where: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new Error(`${where}: field ${k} is not a uint32`);
  }
  return v;
}

export function loadGolden(dir = goldenDir()): GoldenRecord[] {
  if (!existsSync(dir)) return [];
  const out: GoldenRecord[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort()) {
    const lines = readFileSync(join(dir, file), 'utf8').split('\n');
    lines.forEach((text, i) => {
      if (text.trim() === '') return;
      const where = `${file}:${i + 1}`;
      const o = JSON.parse(text) as Record<string, unknown>;
      if (o.dir !== 'call' && o.dir !== 'reply') throw new Error(`${where}: dir must be call or reply`);
      if (typeof o.hex !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(o.hex)) throw new Error(`${where}: hex is not hex`);
      out.push({
        file,
        line: i + 1,
        dir: o.dir,
        prog: field(o, 'prog', where),
        vers: field(o, 'vers', where),
        proc: field(o, 'proc', where),
        xid: field(o, 'xid', where),
        bytes: Buffer.from(o.hex, 'hex'),
      });
    });
  }
  return out;
}
