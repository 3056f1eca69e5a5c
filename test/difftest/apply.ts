// Carrying out one operation on one tree with node:fs, and what it returned: a JSON-able value on
// success (bytes written, size and sha256 of what was read, sorted names, file type and size), or the
// errno code. Both trees go through exactly this code, so any difference comes from the file systems.
import { constants, mkdir, open, readFile, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { contentBytes, sha256 } from './content.js';
import type { Op, Payload } from './ops.js';

export type Outcome = { ok: true; value: unknown } | { ok: false; code: string; message: string };

export function errnoCode(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; errno?: unknown };
    if (typeof e.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)) return e.code;
    if (typeof e.errno === 'number') return `errno${Math.abs(e.errno)}`;
  }
  throw err;
}

function failure(err: unknown): Outcome {
  const code = errnoCode(err);
  return { ok: false, code, message: err instanceof Error ? err.message : String(err) };
}

/** Errno codes that mean the same thing to an application. */
export function errnoClass(code: string): string {
  switch (code) {
    case 'EPERM':
    case 'EACCES':
      return 'denied';
    case 'EOPNOTSUPP':
    case 'ENOTSUP':
    case 'ENOSYS':
    case 'errno524': // Linux's kernel-internal ENOTSUPP, which NFS3ERR_NOTSUPP becomes
      return 'unsupported';
    default:
      return code;
  }
}

/** A refusal of a feature that is switched off: permission, read-only or not supported. */
export function isRefusal(code: string): boolean {
  const c = errnoClass(code);
  return c === 'denied' || c === 'unsupported' || c === 'EROFS' || c === 'EXDEV';
}

export function describeOutcome(o: Outcome): string {
  return o.ok ? `ok ${o.value === undefined ? '' : JSON.stringify(o.value)}`.trimEnd() : `error ${o.code} (${o.message})`;
}

/** Same success value, or errors of the same class. */
export function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.ok && b.ok) return JSON.stringify(a.value) === JSON.stringify(b.value);
  if (!a.ok && !b.ok) return errnoClass(a.code) === errnoClass(b.code);
  return false;
}

/** Writes the payload front to back through one open file; a failing write still closes the file. */
async function writeThrough(file: string, flags: string | number, p: Payload): Promise<number> {
  const data = contentBytes(p.content, p.size);
  const handle = await open(file, flags);
  let written = 0;
  let writeError: unknown;
  try {
    while (written < data.length) {
      const n = Math.min(p.chunk, data.length - written);
      const { bytesWritten } = await handle.write(data, written, n);
      if (bytesWritten === 0) throw new Error(`write of ${n} bytes wrote nothing`);
      written += bytesWritten;
    }
  } catch (err) {
    writeError = err;
  }
  // close() reports errors of the write-back that NFS does at close; keep the first error.
  try {
    await handle.close();
  } catch (err) {
    writeError ??= err;
  }
  if (writeError !== undefined) throw writeError;
  return written;
}

async function readRange(file: string, offset: number, length: number): Promise<{ bytes: number; sha256: string }> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await handle.read(buf, got, length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { bytes: got, sha256: sha256(buf.subarray(0, got)) };
  } finally {
    await handle.close();
  }
}

function kindOf(s: { isFile(): boolean; isDirectory(): boolean }): string {
  return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : 'other';
}

export async function applyOp(root: string, op: Op): Promise<Outcome> {
  const at = (p: string): string => (p === '' ? root : path.join(root, p));
  try {
    switch (op.kind) {
      case 'create':
        return { ok: true, value: await writeThrough(at(op.path), op.exclusive ? 'wx' : 'w', op) };
      case 'overwrite':
        // No O_CREAT: an overwrite only ever replaces a file that is there.
        return { ok: true, value: await writeThrough(at(op.path), constants.O_WRONLY | constants.O_TRUNC, op) };
      case 'append':
        return { ok: true, value: await writeThrough(at(op.path), 'a', op) };
      case 'readWhole': {
        const data = await readFile(at(op.path));
        return { ok: true, value: { bytes: data.length, sha256: sha256(data) } };
      }
      case 'readRange':
        return { ok: true, value: await readRange(at(op.path), op.offset, op.length) };
      case 'stat': {
        const s = await stat(at(op.path));
        const kind = kindOf(s);
        return { ok: true, value: kind === 'file' ? { kind, size: s.size } : { kind } };
      }
      case 'readdir': {
        const entries = await readdir(at(op.path), { withFileTypes: true });
        const value = entries.map((e) => `${e.name}${e.isDirectory() ? '/' : ''}`).sort();
        return { ok: true, value };
      }
      case 'mkdir': {
        const first = await mkdir(at(op.path), { recursive: op.recursive });
        return { ok: true, value: first === undefined ? undefined : path.relative(root, first) };
      }
      case 'rmdir':
        await rmdir(at(op.path));
        return { ok: true, value: undefined };
      case 'unlink':
        await unlink(at(op.path));
        return { ok: true, value: undefined };
      case 'rename':
        await rename(at(op.from), at(op.to));
        return { ok: true, value: undefined };
      case 'pause':
        await new Promise((resolve) => setTimeout(resolve, op.ms));
        return { ok: true, value: undefined };
    }
  } catch (err) {
    return failure(err);
  }
}
