// The bucket test/e2e/read-slice.test.ts reads: nested prefixes, a directory of 1,100 keys, a 200 MiB
// generated object, empty objects, directory markers, a shadowed file, odd names and keys the namespace
// must hide.
import { MiB, patternBytes } from './seed.js';
import type { SeedObject } from './seed.js';

export const BIG_KEY = 'big/big.bin';
export const BIG_SIZE = 200 * MiB;
export const BIG_SEED = 'read-slice-200MiB';
export const MANY = 1100;

const text = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Keys whose names are fine for POSIX but unusual: spaces, Unicode (both normal forms), %, +, controls. */
export const ODD_NAMES = [
  'with space.txt',
  '  leading and trailing  ',
  'ünïcödé-日本語.txt',
  'emoji-😀.txt',
  '\u00e9', // é, NFC
  'e\u0301', // é, NFD: a different name
  '100%.txt',
  '%41%2F-stays-encoded',
  'a+b=c&d.txt',
  'tab\there',
  'new\nline',
  'back\\slash',
  `it's "quoted"`,
  '*?[glob]',
  '-dash-first',
  '.hidden',
  '...',
  'x'.repeat(255), // the longest name Linux takes
  'é'.repeat(127) + 'x', // 255 UTF-8 bytes
];

/** Keys the namespace must hide (from the invalid component on); their valid ancestors still show. */
export const HIDDEN_KEYS = [
  'hidden/bad//double-slash',
  'hidden/./dot',
  'hidden/../dotdot',
  'hidden/..',
  'hidden/' + 'L'.repeat(256),
  'hidden/' + 'é'.repeat(128),
  '/leading-slash',
  './dot-first',
  'empty-component//x',
];

export function readSliceDataSet(): SeedObject[] {
  const objects: SeedObject[] = [
    { key: 'readme.txt', body: text('s3nfs reads this bucket\n') },
    { key: 'empty', body: Buffer.alloc(0) },
    { key: 'dir/empty-in-dir', body: Buffer.alloc(0) },
    { key: 'dir/sub/zero', body: Buffer.alloc(0) },
    { key: 'nested/top.txt', body: text('top of the prefix\n') },
    { key: 'nested/a/', body: Buffer.alloc(0) }, // a directory marker where the directory exists anyway
    { key: 'nested/a/sibling.bin', body: patternBytes('sibling', 0, 4097) },
    { key: 'nested/a/b/c/deep.txt', body: text('deep down\n') },
    { key: 'nested/only-marker/', body: Buffer.alloc(0) },
    { key: 'marker-only/', body: Buffer.alloc(0) },
    { key: 'shadow', body: text('a file shadowed by the directory of the same name\n') },
    { key: 'shadow/child.txt', body: text('child\n') },
    { key: 'hidden/visible.txt', body: text('still here\n') },
    { key: 'many/zz-subdir/inner.txt', body: text('a directory among many files\n') },
    { key: BIG_KEY, seed: BIG_SEED, size: BIG_SIZE },
  ];
  for (let i = 0; i < MANY; i++) {
    const key = `many/f${String(i).padStart(5, '0')}`;
    objects.push({ key, body: text(`${key}\n`.repeat(1 + (i % 5))) });
  }
  ODD_NAMES.forEach((name, i) => objects.push({ key: `odd/${name}`, body: text(`odd name #${i}\n`) }));
  HIDDEN_KEYS.forEach((key, i) => objects.push({ key, body: text(`hidden #${i}\n`) }));
  return objects;
}

