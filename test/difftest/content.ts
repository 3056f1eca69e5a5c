// File contents: `size` pseudo-random bytes from a 32-bit content seed (the AES-128-CTR key stream of
// a key derived from the seed: native speed, the same on every machine). Random bytes make any
// misplaced, repeated or zeroed range show up in a sha256, and the seed keeps reports short.
import { createCipheriv, createHash } from 'node:crypto';

let last: { content: number; data: Buffer } | undefined;

export function contentBytes(content: number, size: number): Buffer {
  // Both trees get the same payload one after the other: keep the last one.
  if (last && last.content === content && last.data.length >= size) return last.data.subarray(0, size);
  const key = createHash('sha256').update(`difftest-content:${content >>> 0}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const data = Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
  last = { content, data };
  return data;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
