// What crash-child.ts writes as its i-th file, so the parent can tell what each COMMIT covered.

import { pattern } from './helpers.js';

export function crashFileData(i: number): { key: string; data: Buffer; half: number } {
  const size = ((i + 1) * 2654435761) % (90 * 1024) + 1000;
  const data = pattern(size, i + 1);
  return { key: `dir/file-${i}`, data, half: Math.floor(size / 2) };
}
