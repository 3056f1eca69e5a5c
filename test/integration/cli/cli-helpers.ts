// Shared pieces of the CLI integration tests: the S3 env contract, running bin/s3nfs to the end or
// in the foreground until it listens, libnfs command-line clients, and a raw MOUNT call.

import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MOUNT3, MOUNT_PROGRAM, MOUNT_V3 } from '../../../protocol/mount.js';
import { rpcCall, RpcCallError, type RpcEndpoint } from '../../../src/portmap/rpc-call.js';

export const endpoint = process.env.S3NFS_TEST_ENDPOINT;
export const bucket = process.env.S3NFS_TEST_BUCKET;
export const NO_SERVER = 'S3NFS_TEST_ENDPOINT / S3NFS_TEST_BUCKET are not set (scripts/test.sh starts a local Ceph RGW)';
export const CLI = fileURLToPath(new URL('../../../../bin/s3nfs', import.meta.url));
export const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
export const haveLibnfs = spawnSync('sh', ['-c', 'command -v nfs-ls && command -v nfs-cat && command -v nfs-cp']).status === 0;
export const isRoot = process.getuid?.() === 0;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion. */
export function runCli(args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { timeout: options.timeoutMs ?? 120_000, env: options.env ?? process.env },
      (err, stdout, stderr) => {
        const code = err && typeof err.code === 'number' ? err.code : err ? null : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A running `s3nfs serve`, once it has printed its listening line. */
export interface Served {
  child: ChildProcessWithoutNullStreams;
  port: number;
  stderr: () => string;
  exited: Promise<number | null>;
}

export function serve(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { env: process.env });
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no listening line within 30 s; stderr:\n${err}`));
    }, 30_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /^s3nfs: listening on \S+:(\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), stderr: () => err, exited });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`s3nfs exited with ${code} before listening; stderr:\n${err}`));
    });
  });
}

/** Stops a served process with SIGTERM and returns its exit status. */
export async function stop(s: Served): Promise<number | null> {
  s.child.kill('SIGTERM');
  return s.exited;
}

export function libnfs(tool: 'nfs-ls' | 'nfs-cat' | 'nfs-cp', args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile(tool, args, { encoding: 'buffer', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr: stderr.toString() });
    });
  });
}

/** An nfs:// URL for libnfs with the server's ports named (no portmapper needed). */
export function nfsUrl(port: number, exportPath: string, file = ''): string {
  return `nfs://127.0.0.1${exportPath}${file}?version=3&nfsport=${port}&mountport=${port}`;
}

export type MountOutcome = { kind: 'mounted' } | { kind: 'mount-status'; status: number } | { kind: 'refused'; detail: string };

/** One MOUNT MNT call over TCP from the given source, answered or refused at the RPC level. */
export async function mountCall(to: RpcEndpoint, exportPath: string): Promise<MountOutcome> {
  try {
    const res = await rpcCall(to, MOUNT_PROGRAM, MOUNT_V3, MOUNT3.procedures.MNT, exportPath, { timeoutMs: 10_000 });
    return res.status === 0 ? { kind: 'mounted' } : { kind: 'mount-status', status: res.status };
  } catch (err) {
    if (err instanceof RpcCallError && err.kind === 'refused') return { kind: 'refused', detail: err.detail ?? '' };
    throw err;
  }
}
