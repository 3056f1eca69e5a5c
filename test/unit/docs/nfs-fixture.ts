// The server the semantics test talks to: an export opened the way `s3nfs serve` opens one
// (openExport: state directory, handle store, read path, write path), over an in-memory bucket,
// behind the real NFS program on a loopback RPC server, with a typed client. Flags come from the
// docs table and are turned into the export options `serve` would pass for them.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { emptySattr3 } from '../../../protocol/nfs3/attributes.js';
import type { Sattr3 } from '../../../protocol/nfs3/attributes.js';
import { CreateMode3, NfsStat3 } from '../../../protocol/nfs3/constants.js';
import { NFS_PROGRAM, NFS_V3 } from '../../../protocol/nfs3/constants.js';
import { NFS3 } from '../../../protocol/nfs3/program.js';
import type { ProcedureCodecs } from '../../../protocol/program.js';
import { openExport, type ExportOptions, type OpenExport } from '../../../src/fs/export.js';
import { nfsProgram } from '../../../src/nfs/program.js';
import { MemoryObjectStore } from '../../../src/s3/memory-store.js';
import { RpcServer, silentLogger } from '../../../src/server/index.js';
import { RpcTestClient } from '../nfs/rpc-client.js';

export const P = NFS3.procedures;
const MiB = 1024 * 1024;

/** What every scenario starts from. */
export const FIXTURE_OBJECTS: Readonly<Record<string, string>> = {
  'old.txt': 'old contents\n',
  'sub/inner.txt': 'inner\n',
  'marker/': '',
};

/** The `serve` flags the table may name, and the export options each stands for. */
export type ExportFlags = Partial<
  Pick<ExportOptions, 'readOnly' | 'allowDelete' | 'allowOverwrite' | 'writePartSize' | 'metadataTtlMs' | 'negativeTtlMs'>
>;

/**
 * Parses a flags cell's code spans (`--allow-delete`, `--write-part-size 5`) into export options.
 * Returns the flag names too, so the caller can check they are real `serve` flags.
 */
export function parseFlags(spans: readonly string[]): { options: ExportFlags; names: string[] } {
  const options: ExportFlags = {};
  const names: string[] = [];
  for (const span of spans) {
    const [flag, value, ...extra] = span.trim().split(/\s+/);
    if (!flag?.startsWith('--') || extra.length > 0) throw new Error(`"${span}" is not a flag with at most one value`);
    const name = flag.slice(2);
    names.push(name);
    const seconds = (): number => {
      const s = Number(value);
      if (value === undefined || !Number.isFinite(s)) throw new Error(`${flag} needs seconds`);
      return s * 1000;
    };
    switch (name) {
      case 'read-only':
        options.readOnly = true;
        break;
      case 'allow-delete':
        options.allowDelete = true;
        break;
      case 'allow-overwrite':
        options.allowOverwrite = true;
        break;
      case 'write-part-size': {
        const mib = Number(value);
        if (!Number.isInteger(mib)) throw new Error(`${flag} needs whole MiB`);
        options.writePartSize = mib * MiB;
        break;
      }
      case 'metadata-ttl':
        options.metadataTtlMs = seconds();
        break;
      case 'negative-metadata-ttl':
        options.negativeTtlMs = seconds();
        break;
      default:
        throw new Error(`the semantics test does not know how to apply ${flag}`);
    }
    if ((name === 'read-only' || name.startsWith('allow-')) && value !== undefined) throw new Error(`${flag} takes no value`);
  }
  return { options, names };
}

export interface Fixture {
  readonly memory: MemoryObjectStore;
  readonly exported: OpenExport;
  readonly client: RpcTestClient;
  /** The export root's handle. */
  readonly root: Buffer;
  close(): Promise<void>;
}

/** Opens the fixture export with the given flags. Always close() it. */
export async function openFixture(flags: ExportFlags): Promise<Fixture> {
  const memory = new MemoryObjectStore();
  for (const [key, body] of Object.entries(FIXTURE_OBJECTS)) memory.putSync(key, body);
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 's3nfs-docs-'));
  let exported: OpenExport | undefined;
  let server: RpcServer | undefined;
  try {
    // The table's flags over serve's defaults; the fixture is small, so only the quiet delay is
    // stretched, so that nothing publishes while a scenario runs unless it asks.
    exported = await openExport({ store: memory, bucket: 'bucket', stateDir, publishDelayMs: 3_600_000, ...flags });
    server = new RpcServer({ logger: silentLogger });
    server.register(nfsProgram({ fs: exported.fs, logger: silentLogger }));
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
    const client = await RpcTestClient.connect(port);
    const opened = exported;
    const running = server;
    return {
      memory,
      exported: opened,
      client,
      root: opened.fs.handleFor(opened.fs.rootId),
      async close() {
        client.close();
        await running.close({ timeoutMs: 1000 });
        await opened.shutdown({ timeoutMs: 2000 });
        await rm(stateDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await server?.close({ timeoutMs: 0 });
    await exported?.shutdown({ timeoutMs: 0 });
    await rm(stateDir, { recursive: true, force: true });
    throw err;
  }
}

/** One NFSv3 call; the RPC itself must succeed. */
export function call<A, R>(f: Fixture, proc: ProcedureCodecs<A, R>, args: A): Promise<R> {
  return f.client.ok(NFS_PROGRAM, NFS_V3, proc, args);
}

/** sattr3 with only the given fields set. */
export function sattr(fields: Partial<Sattr3>): Sattr3 {
  return { ...emptySattr3(), ...fields };
}

/** A step the scenario needs to succeed before the operation the row is about. */
export function mustSucceed<T extends { status: number }>(what: string, res: T): Extract<T, { status: 0 }> {
  if (res.status !== NfsStat3.NFS3_OK) throw new Error(`${what}: expected NFS3_OK while setting up, got ${res.status}`);
  return res as Extract<T, { status: 0 }>;
}

/** LOOKUP that must find the name. */
export async function lookup(f: Fixture, dir: Buffer, name: string): Promise<Buffer> {
  return mustSucceed(`LOOKUP ${name}`, await call(f, P.LOOKUP, { what: { dir, name } })).resok.object;
}

/** CREATE UNCHECKED (as shell `>` sends it): the status and, on success, the handle. */
export async function create(f: Fixture, dir: Buffer, name: string): Promise<{ status: number; handle?: Buffer }> {
  const res = await call(f, P.CREATE, {
    where: { dir, name },
    how: { mode: CreateMode3.UNCHECKED, objAttributes: sattr({ mode: 0o644 }) },
  });
  if (res.status !== NfsStat3.NFS3_OK) return { status: res.status };
  if (!res.resok.obj) throw new Error(`CREATE ${name} returned no handle`);
  return { status: res.status, handle: res.resok.obj };
}

/** WRITE FILE_SYNC of `data` at `offset`. */
export async function write(f: Fixture, file: Buffer, offset: bigint, data: Buffer): Promise<number> {
  const res = await call(f, P.WRITE, { file, offset, count: data.length, stable: 2, data });
  return res.status;
}
