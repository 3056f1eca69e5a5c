// Child process for export.test.ts: opens an export on the state directory it is given, writes one
// file through the FileSystem (CREATE, FILE_SYNC WRITE, COMMIT) without publishing it, says
// "ready" on stdout and waits to be killed.
// Usage: node export-child.js STATE_DIR

import { openExport } from '../../../src/fs/export.js';
import { MemoryObjectStore } from '../../../src/s3/memory-store.js';

const stateDir = process.argv[2];
if (!stateDir) throw new Error('usage: export-child STATE_DIR');

const exp = await openExport({ store: new MemoryObjectStore(), bucket: 'bucket', stateDir, publishDelayMs: 3_600_000 });
const made = await exp.fs.create(exp.fs.rootId, 'from-child.txt', { mode: 'unchecked', attributes: { mode: 0o644 } });
await exp.fs.write(made.id, 0, Buffer.from('written by the child\n'), 'unstable');
await exp.fs.commit(made.id, 0, 0);
process.stdout.write('ready\n');
setInterval(() => undefined, 60_000);
