import type { ServeConfig } from './serve-options.js';

export async function runServe(config: ServeConfig): Promise<number> {
  process.stderr.write(`s3nfs: serve is not wired yet (${config.bucket})\n`);
  return 1;
}
