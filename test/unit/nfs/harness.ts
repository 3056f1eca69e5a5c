// An in-process s3nfs for the NFS/MOUNT/portmap tests: a MemoryObjectStore-backed S3FileSystem
// behind a real RpcServer on a loopback port, and a typed client connected to it.

import { MOUNT_PROGRAM, MOUNT_V3 } from '../../../protocol/mount.js';
import { NFS3 } from '../../../protocol/nfs3/program.js';
import { NFS_PROGRAM, NFS_V3, NfsStat3 } from '../../../protocol/nfs3/constants.js';
import { PMAP_PROGRAM, PMAP_V2 } from '../../../protocol/portmap.js';
import type { ProcedureCodecs } from '../../../protocol/program.js';
import type { OpaqueAuth } from '../../../protocol/rpc.js';
import type { S3FileSystemOptions } from '../../../src/fs/file-system.js';
import { S3FileSystem } from '../../../src/fs/file-system.js';
import { HandleStore } from '../../../src/fs/handle-store.js';
import { exportPath } from '../../../src/mount/exports.js';
import { mountProgram } from '../../../src/mount/program.js';
import { nfsProgram } from '../../../src/nfs/program.js';
import { portmapProgram } from '../../../src/portmap/program.js';
import { MemoryObjectStore } from '../../../src/s3/memory-store.js';
import { RpcServer } from '../../../src/server/index.js';
import type { LogFields, Logger } from '../../../src/server/index.js';
import { RpcTestClient } from './rpc-client.js';

export const BUCKET = 'bucket';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields: LogFields | undefined;
}

export class RecordingLogger implements Logger {
  readonly lines: LogLine[] = [];
  debug(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'debug', message, fields });
  }
  info(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'info', message, fields });
  }
  warn(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'warn', message, fields });
  }
  error(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'error', message, fields });
  }
  at(level: LogLine['level']): LogLine[] {
    return this.lines.filter((l) => l.level === level);
  }
}

export interface HarnessOptions {
  objects?: Record<string, string | Buffer>;
  prefix?: string;
  /** LIST page size of the memory store (small values exercise paging). */
  pageSize?: number;
  fsOptions?: Partial<S3FileSystemOptions>;
  /** Builds the file system the programs see (e.g. a subclass that misbehaves); default S3FileSystem. */
  makeFs?: (options: S3FileSystemOptions) => S3FileSystem;
}

export interface Harness {
  memory: MemoryObjectStore;
  fs: S3FileSystem;
  handles: HandleStore;
  server: RpcServer;
  port: number;
  client: RpcTestClient;
  logger: RecordingLogger;
  root: Buffer;
  exportPath: string;
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const prefix = options.prefix ?? '';
  const memory = new MemoryObjectStore(options.pageSize === undefined ? {} : { pageSize: options.pageSize });
  for (const [key, body] of Object.entries(options.objects ?? {})) {
    memory.putSync(key, body, { lastModified: new Date('2024-01-02T03:04:05.000Z') });
  }
  const handles = await HandleStore.open({ bucket: BUCKET, prefix });
  const fsOptions: S3FileSystemOptions = { store: memory, handles, prefix, ...options.fsOptions };
  const fs = options.makeFs ? options.makeFs(fsOptions) : new S3FileSystem(fsOptions);
  const logger = new RecordingLogger();
  const server = new RpcServer({ logger });
  const path = exportPath(BUCKET, prefix);
  let port = 0;
  server.register(nfsProgram({ fs, logger }));
  server.register(mountProgram({ exports: [{ path, fs }], logger }));
  server.register(
    portmapProgram({
      programs: () => [
        { program: NFS_PROGRAM, version: NFS_V3 },
        { program: MOUNT_PROGRAM, version: MOUNT_V3 },
        { program: PMAP_PROGRAM, version: PMAP_V2 },
      ],
      port: () => port,
      logger,
    }),
  );
  port = (await server.listen({ host: '127.0.0.1', port: 0 })).port;
  const client = await RpcTestClient.connect(port);
  return {
    memory,
    fs,
    handles,
    server,
    port,
    client,
    logger,
    root: fs.handleFor(fs.rootId),
    exportPath: path,
    async close() {
      client.close();
      await server.close({ timeoutMs: 1000 });
      await handles.close();
    },
  };
}

/** Runs a test body against a fresh harness and always closes it. */
export async function withHarness(options: HarnessOptions, body: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness(options);
  try {
    await body(h);
  } finally {
    await h.close();
  }
}

export const P = NFS3.procedures;

/** An NFSv3 call that must be SUCCESS at the RPC level. */
export function nfs<A, R>(h: Harness, proc: ProcedureCodecs<A, R>, args: A, cred?: OpaqueAuth): Promise<R> {
  return h.client.ok(NFS_PROGRAM, NFS_V3, proc, args, cred);
}

/** The handle of a path inside the export, by LOOKUPs from the root. */
export async function lookupPath(h: Harness, path: string): Promise<Buffer> {
  let fh = h.root;
  for (const name of path.split('/').filter((c) => c !== '')) {
    const res = await nfs(h, P.LOOKUP, { what: { dir: fh, name } });
    if (res.status !== NfsStat3.NFS3_OK) throw new Error(`LOOKUP ${name} in ${path}: status ${res.status}`);
    fh = res.resok.object;
  }
  return fh;
}
