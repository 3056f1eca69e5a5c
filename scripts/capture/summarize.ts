// Checks golden fixture files and prints how many calls and replies of each procedure they hold.
//
//   node dist/scripts/capture/summarize.js test/fixtures/golden/*.jsonl [--markdown]
//
// Checks per file: every line is a well-formed record whose bytes start with the RPC header it claims
// (xid, call/reply, and prog/vers/proc for calls); every call has exactly one later reply with its xid and
// procedure, and every reply follows its call. Exits 1 if any check fails.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readRpcHeaderInfo } from './rpc-stream.js';
import { procedureName } from './procedure-names.js';

interface Line {
  dir: 'call' | 'reply';
  prog: number;
  vers: number;
  proc: number;
  xid: number;
  hex: string;
}

function parseLine(text: string): Line {
  const v: unknown = JSON.parse(text);
  if (typeof v !== 'object' || v === null) throw new Error('not an object');
  const o = v as Record<string, unknown>;
  const num = (k: string): number => {
    const x = o[k];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new Error(`bad ${k}`);
    return x;
  };
  if (o['dir'] !== 'call' && o['dir'] !== 'reply') throw new Error('bad dir');
  if (typeof o['hex'] !== 'string' || !/^([0-9a-f]{2})+$/.test(o['hex'])) throw new Error('bad hex');
  const keys = Object.keys(o).sort().join(',');
  if (keys !== 'dir,hex,proc,prog,vers,xid') throw new Error(`unexpected fields ${keys}`);
  return { dir: o['dir'], prog: num('prog'), vers: num('vers'), proc: num('proc'), xid: num('xid'), hex: o['hex'] };
}

interface FileSummary {
  file: string;
  rows: Map<string, { calls: number; replies: number }>;
  problems: string[];
  bytes: number;
}

function summarize(file: string): FileSummary {
  const text = readFileSync(file, 'utf8');
  const rows = new Map<string, { calls: number; replies: number }>();
  const problems: string[] = [];
  const open = new Map<number, Line[]>();
  text.split('\n').forEach((raw, i) => {
    if (raw === '') return;
    const where = `line ${i + 1}`;
    let line: Line;
    try {
      line = parseLine(raw);
      const h = readRpcHeaderInfo(Buffer.from(line.hex, 'hex'));
      if (h.xid !== line.xid) throw new Error(`xid ${line.xid} but the message says ${h.xid}`);
      if (h.type !== line.dir) throw new Error(`dir ${line.dir} but the message is a ${h.type}`);
      if (h.type === 'call' && (h.prog !== line.prog || h.vers !== line.vers || h.proc !== line.proc)) {
        throw new Error(`call header says ${h.prog}/${h.vers}/${h.proc}`);
      }
    } catch (err) {
      problems.push(`${where}: ${(err as Error).message}`);
      return;
    }
    const name = procedureName(line.prog, line.vers, line.proc);
    const row = rows.get(name) ?? { calls: 0, replies: 0 };
    rows.set(name, row);
    if (line.dir === 'call') {
      row.calls++;
      open.set(line.xid, [...(open.get(line.xid) ?? []), line]);
    } else {
      row.replies++;
      const call = open.get(line.xid)?.shift();
      if (!call) problems.push(`${where}: reply xid ${line.xid} without an earlier call`);
      else if (call.prog !== line.prog || call.vers !== line.vers || call.proc !== line.proc) {
        problems.push(`${where}: reply xid ${line.xid} names another procedure than its call`);
      }
    }
  });
  for (const [xid, calls] of open) {
    for (const c of calls) problems.push(`call xid ${xid} (${procedureName(c.prog, c.vers, c.proc)}) has no reply`);
  }
  return { file, rows, problems, bytes: Buffer.byteLength(text) };
}

function main(): void {
  const args = process.argv.slice(2);
  const markdown = args.includes('--markdown');
  const files = args.filter((a) => a !== '--markdown');
  if (files.length === 0) {
    process.stderr.write('usage: summarize.js FILE.jsonl... [--markdown]\n');
    process.exit(2);
  }
  let failed = false;
  let total = 0;
  if (markdown) process.stdout.write('| fixture | procedure | calls | replies |\n|---|---|---|---|\n');
  for (const file of files) {
    const s = summarize(file);
    total += s.bytes;
    const name = path.basename(file);
    if (markdown) {
      for (const [proc, r] of s.rows) process.stdout.write(`| ${name} | ${proc} | ${r.calls} | ${r.replies} |\n`);
    } else {
      process.stdout.write(`${name} (${(s.bytes / 1024).toFixed(1)} KiB)\n`);
      for (const [proc, r] of s.rows) {
        process.stdout.write(`  ${proc.padEnd(24)} calls ${String(r.calls).padStart(3)}  replies ${String(r.replies).padStart(3)}\n`);
      }
    }
    for (const p of s.problems) {
      failed = true;
      process.stdout.write(`  PROBLEM ${name}: ${p}\n`);
    }
  }
  process.stdout.write(`${files.length} files, ${(total / 1024 / 1024).toFixed(2)} MiB in all${failed ? '; PROBLEMS FOUND' : '; all calls paired with replies'}\n`);
  process.exit(failed ? 1 : 0);
}

main();
