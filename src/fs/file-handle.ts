// The bytes of an NFS file handle (ARCHITECTURE.md §3). Only bytes here: no XDR, no lookups.
//
//   offset  size  field
//   0       4     format: 'S3N' + version byte (1)
//   4       4     export id      (which bucket + prefix)
//   8       8     file id        (HandleStore id; 1 is the root)
//   16      4     generation     (the HandleStore's, so a wiped state dir cannot alias old handles)
//   20      4     check          (FNV-1a of bytes 0..19: catches truncated or mangled handles)
//
// 24 bytes: fixed, a multiple of 4, well under NFSv3's 64.

import { createHash } from 'node:crypto';
import { fsError } from './errors.js';

export const FILE_HANDLE_SIZE = 24;
const FORMAT_V1 = 0x53334e01;

export interface FileHandleFields {
  exportId: number;
  fileId: bigint;
  generation: number;
}

export function encodeFileHandle(fields: FileHandleFields): Buffer {
  const out = Buffer.alloc(FILE_HANDLE_SIZE);
  out.writeUInt32BE(FORMAT_V1, 0);
  out.writeUInt32BE(fields.exportId >>> 0, 4);
  out.writeBigUInt64BE(BigInt.asUintN(64, fields.fileId), 8);
  out.writeUInt32BE(fields.generation >>> 0, 16);
  out.writeUInt32BE(fnv1a(out, 20), 20);
  return out;
}

/**
 * Reads a handle's fields. Anything that is not a handle this format wrote (wrong length, unknown
 * version, failed check) is BADHANDLE; whether the export and id are known is the caller's question.
 */
export function decodeFileHandle(bytes: Uint8Array): FileHandleFields {
  if (bytes.length !== FILE_HANDLE_SIZE) {
    throw fsError('BADHANDLE', `file handle has ${bytes.length} bytes, expected ${FILE_HANDLE_SIZE}`);
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const format = buf.readUInt32BE(0);
  if (format !== FORMAT_V1) throw fsError('BADHANDLE', `unknown file handle format 0x${format.toString(16)}`);
  if (buf.readUInt32BE(20) !== fnv1a(buf, 20)) throw fsError('BADHANDLE', 'file handle check bytes do not match');
  return { exportId: buf.readUInt32BE(4), fileId: buf.readBigUInt64BE(8), generation: buf.readUInt32BE(16) };
}

/**
 * The export id of a bucket + prefix: derived, not allocated, so the root handle of an export is
 * the same on every server start and even after the state directory is lost.
 */
export function exportIdFor(bucket: string, prefix: string): number {
  return createHash('sha256').update(`${bucket}\0${prefix}`, 'utf8').digest().readUInt32BE(0);
}

function fnv1a(buf: Buffer, length: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < length; i++) {
    h ^= buf[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
