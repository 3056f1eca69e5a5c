// The journal record of one staged file: manifest.json beside its data file. It is rewritten
// atomically (disk.ts) and only ever describes state that is already durable: the size, extents and
// times the last COMMIT made stable, the multipart upload the file is using, and whether the staged
// bytes have been published. Recovery trusts nothing else.

import { fsError } from '../errors.js';

export const MANIFEST_FORMAT = 1;
export const MANIFEST_FILE = 'manifest.json';
export const DATA_FILE = 'data';

/** What the key held when staging began: nothing, or an object this file replaces (--allow-overwrite). */
export type Baseline = { kind: 'new' } | { kind: 'replace'; etag: string; size: number };

/** A part already uploaded to the file's multipart upload, with the hash of the bytes it was made from. */
export interface ManifestPart {
  partNumber: number;
  etag: string;
  size: number;
  /** sha256 (hex) of the part's bytes: recovery reuses the part only if the staged bytes still match. */
  sha256: string;
}

export interface ManifestUpload {
  uploadId: string;
  parts: ManifestPart[];
}

export interface ManifestPublished {
  etag: string;
  size: number;
  /** Epoch milliseconds. */
  at: number;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  key: string;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Fixed for the life of the staged file, so a resumed upload keeps its part boundaries. */
  partSize: number;
  baseline: Baseline;
  /** CREATE EXCLUSIVE's verifier (hex), so a retransmitted CREATE is recognised after a restart. */
  exclusiveVerifier?: string;
  /** Durable size: what the last COMMIT covered. */
  size: number;
  /** Durable written ranges, sorted and disjoint. */
  extents: Array<[number, number]>;
  /** Epoch milliseconds. */
  mtime: number;
  atime: number;
  ctime: number;
  /** 'published': the staged bytes equal the object last published (kept only as a local copy). */
  state: 'staged' | 'published';
  published?: ManifestPublished;
  upload?: ManifestUpload;
}

export function encodeManifest(m: Manifest): Buffer {
  return Buffer.from(JSON.stringify(m) + '\n', 'utf8');
}

/** Parses and checks a manifest; anything malformed is an IO error naming the problem. */
export function decodeManifest(bytes: Buffer, where: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw fsError('IO', `${where}: manifest is not JSON`, err);
  }
  const bad = (what: string): never => {
    throw fsError('IO', `${where}: manifest ${what}`);
  };
  const o = asRecord(raw) ?? bad('is not an object');
  if (o['format'] !== MANIFEST_FORMAT) bad(`has unknown format ${String(o['format'])}`);
  const key = str(o['key']) ?? bad('has no key');
  const createdAt = num(o['createdAt']) ?? bad('has no createdAt');
  const partSize = num(o['partSize']) ?? bad('has no partSize');
  if (!(partSize >= 1)) bad('has a bad partSize');
  const size = num(o['size']) ?? bad('has no size');
  const mtime = num(o['mtime']) ?? bad('has no mtime');
  const atime = num(o['atime']) ?? bad('has no atime');
  const ctime = num(o['ctime']) ?? bad('has no ctime');
  const state = o['state'] === 'staged' || o['state'] === 'published' ? o['state'] : bad('has a bad state');

  const baselineRaw = asRecord(o['baseline']) ?? bad('has no baseline');
  let baseline: Baseline;
  if (baselineRaw['kind'] === 'new') baseline = { kind: 'new' };
  else if (baselineRaw['kind'] === 'replace') {
    baseline = {
      kind: 'replace',
      etag: str(baselineRaw['etag']) ?? bad('baseline has no etag'),
      size: num(baselineRaw['size']) ?? bad('baseline has no size'),
    };
  } else baseline = bad('has a bad baseline kind');

  const extentsRaw = Array.isArray(o['extents']) ? (o['extents'] as unknown[]) : bad('has no extents');
  const extents: Array<[number, number]> = extentsRaw.map((e) => {
    if (!Array.isArray(e) || e.length !== 2) return bad('has a bad extent');
    const s = num(e[0]);
    const t = num(e[1]);
    if (s === undefined || t === undefined || !(t > s)) return bad('has a bad extent');
    return [s, t];
  });

  const m: Manifest = {
    format: MANIFEST_FORMAT,
    key,
    createdAt,
    partSize,
    baseline,
    size,
    extents,
    mtime,
    atime,
    ctime,
    state,
  };
  if (o['exclusiveVerifier'] !== undefined) {
    m.exclusiveVerifier = str(o['exclusiveVerifier']) ?? bad('has a bad exclusiveVerifier');
  }
  if (o['published'] !== undefined) {
    const p = asRecord(o['published']) ?? bad('has a bad published record');
    m.published = {
      etag: str(p['etag']) ?? bad('published record has no etag'),
      size: num(p['size']) ?? bad('published record has no size'),
      at: num(p['at']) ?? bad('published record has no time'),
    };
  }
  if (o['upload'] !== undefined) {
    const u = asRecord(o['upload']) ?? bad('has a bad upload');
    const partsRaw = Array.isArray(u['parts']) ? (u['parts'] as unknown[]) : bad('upload has no parts');
    m.upload = {
      uploadId: str(u['uploadId']) ?? bad('upload has no id'),
      parts: partsRaw.map((pr) => {
        const p = asRecord(pr) ?? bad('has a bad part');
        return {
          partNumber: num(p['partNumber']) ?? bad('part has no number'),
          etag: str(p['etag']) ?? bad('part has no etag'),
          size: num(p['size']) ?? bad('part has no size'),
          sha256: str(p['sha256']) ?? bad('part has no sha256'),
        };
      }),
    };
  }
  return m;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}
