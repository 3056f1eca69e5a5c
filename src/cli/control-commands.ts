// `s3nfs status`, `s3nfs flush [PATH]` and `s3nfs stop`: talk to running servers through their
// control sockets (src/control) and print what they say.

import { realpathSync } from 'node:fs';
import path from 'node:path';
import { ControlClientError, controlRequest } from '../control/client.js';
import type { FlushReport, StatusReport } from '../control/protocol.js';
import { currentMounts, type MountEntry } from './nfs-client.js';
import { candidateStateDirs, controlSocketOf, findServers, type FoundServer } from './server-discovery.js';

/** A command's outcome: what to print and the exit status. */
export interface CommandOutput {
  stdout: string;
  stderr: string;
  code: number;
}

const MiB = 1024 * 1024;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < MiB) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${(n / (1024 * MiB)).toFixed(2)} GiB`;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A server's status as a few readable lines. */
export function renderStatus(s: StatusReport, now: Date = new Date()): string {
  const lines: string[] = [];
  const up = formatDuration(now.getTime() - new Date(s.startedAt).getTime());
  lines.push(`s3nfs ${s.version}, pid ${s.pid}, up ${up} (state ${s.stateDir})`);
  for (const e of s.exports) {
    const where = e.mountpoint ? `, mounted at ${e.mountpoint}` : '';
    lines.push(`  export    ${e.path}  s3://${e.bucket}/${e.prefix} (${e.readOnly ? 'read-only' : 'read-write'})${where}`);
  }
  lines.push(`  listen    ${s.listen.map((a) => hostPort(a.host, a.port)).join(', ')}; portmap: ${s.portmap}`);
  if (s.metrics) lines.push(`  metrics   http://${hostPort(s.metrics.host, s.metrics.port)}/metrics`);
  lines.push(`  clients   ${s.connections} connection${s.connections === 1 ? '' : 's'}`);
  for (const c of s.clients) {
    const ago = c.lastCallAt ? `, last ${formatDuration(now.getTime() - new Date(c.lastCallAt).getTime())} ago` : '';
    const mounted = c.mounts.length > 0 ? `mounted ${c.mounts.join(', ')}, ` : '';
    lines.push(`    ${c.address}  (${mounted}${c.calls} call${c.calls === 1 ? '' : 's'}${ago})`);
  }
  const u = s.uploads;
  lines.push(
    `  uploads   ${u.staged} staged, ${u.publishing} publishing, ${u.failed} failed; ${formatBytes(u.pendingBytes)} not yet in S3`,
  );
  for (const f of s.pending) {
    let detail = formatBytes(f.size);
    if (f.phase === 'publishing') detail = `${formatBytes(f.uploadedBytes)} of ${formatBytes(f.size)} uploaded`;
    if (f.phase === 'failed') {
      const next = f.nextAttemptAt ? `; next try in ${formatDuration(new Date(f.nextAttemptAt).getTime() - now.getTime())}` : '';
      detail += `, ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}: ${f.lastError ?? 'failed'}${next}`;
    }
    const phase = f.phase === 'writing' ? 'staged' : f.phase;
    lines.push(`    ${phase.padEnd(10)} ${f.path}  (${detail})`);
  }
  lines.push(`  memory    ${formatBytes(s.memory.reservedBytes)} of ${formatBytes(s.memory.limitBytes)} in buffers`);
  return lines.join('\n') + '\n';
}

function noServerMessage(explicit: string | undefined, dirs: readonly string[]): string {
  return explicit !== undefined
    ? `s3nfs: no server is running with state directory ${dirs[0]}\n`
    : `s3nfs: no server is running (looked in ${dirs[0]} and its mounts/; use --state-dir for another)\n`;
}

export async function statusCommand(stateDir: string | undefined, json: boolean): Promise<CommandOutput> {
  const dirs = candidateStateDirs(stateDir);
  const { found, problems } = await findServers(dirs);
  const stderr = problems.map((p) => `s3nfs: ${p}\n`).join('');
  if (found.length === 0) return { stdout: '', stderr: stderr + noServerMessage(stateDir, dirs), code: 3 };
  const stdout = json
    ? `${JSON.stringify(found.length === 1 && stateDir !== undefined ? found[0]!.status : found.map((f) => f.status), null, 2)}\n`
    : found.map((f) => renderStatus(f.status)).join('\n');
  return { stdout, stderr, code: 0 };
}

/** A path given to `flush`, resolved to a server and a path relative to its export root. */
export interface FlushTarget {
  server: FoundServer;
  /** '' for everything. */
  exportPath: string;
}

function isUnder(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

function resolvedPath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    // A file that is gone (or not yet visible) may still be staged: resolve its directory instead.
    try {
      return path.join(realpathSync(path.dirname(p)), path.basename(p));
    } catch {
      return path.resolve(p);
    }
  }
}

/**
 * Which server and export path a `flush` argument means. An absolute path (or one starting with
 * ./ or ../) inside an NFS mount of a running server's export is a file or directory of that
 * mount; anything else is a path inside the export itself (the only server's, or --state-dir's).
 */
export function resolveFlushTarget(
  arg: string | undefined,
  servers: readonly FoundServer[],
  mounts: readonly MountEntry[] = currentMounts(),
  cwd: string = process.cwd(),
): FlushTarget | { problem: string } {
  if (servers.length === 0) return { problem: 'no server is running' };
  if (arg === undefined || arg === '') {
    if (servers.length > 1) return { problem: 'several servers run: name one with --state-dir, or a path inside a mount' };
    return { server: servers[0]!, exportPath: '' };
  }
  const local = arg.startsWith('/') || arg.startsWith('./') || arg.startsWith('../') || arg === '.' || arg === '..';
  if (local) {
    const abs = resolvedPath(path.resolve(cwd, arg));
    // The mount point s3nfs mount reported, then any NFS mount of an export we serve.
    for (const server of servers) {
      for (const e of server.status.exports) {
        if (e.mountpoint && isUnder(abs, e.mountpoint)) return { server, exportPath: path.relative(e.mountpoint, abs) };
      }
    }
    const nfs = mounts.filter((m) => (m.type === 'nfs' || m.type === 'nfs4') && isUnder(abs, m.mountpoint));
    for (const m of nfs.sort((a, b) => b.mountpoint.length - a.mountpoint.length)) {
      const colon = m.device.indexOf(':/');
      if (colon < 0) continue;
      const remote = m.device.slice(colon + 1).replace(/\/+$/, '');
      for (const server of servers) {
        for (const e of server.status.exports) {
          // The mount may be of a directory inside the export (HOST:/bucket/sub).
          if (isUnder(remote, e.path)) {
            const inside = path.posix.join(path.posix.relative(e.path, remote), path.relative(m.mountpoint, abs));
            return { server, exportPath: inside === '.' ? '' : inside };
          }
        }
      }
    }
    if (arg.startsWith('/')) {
      // Not in a mount: read it as a path inside the export, as below.
    } else {
      return { problem: `${arg} is not inside an NFS mount of a running s3nfs server` };
    }
  }
  if (servers.length > 1) return { problem: 'several servers run: name one with --state-dir, or give a path inside a mount' };
  return { server: servers[0]!, exportPath: arg.replace(/^\/+/, '') };
}

export function renderFlush(r: FlushReport, what: string): string {
  if (r.files.length === 0) return `nothing to publish under ${what}\n`;
  const lines = r.files.map((f) => {
    const outcome =
      f.outcome === 'published'
        ? 'published'
        : f.outcome === 'unchanged'
          ? 'already published'
          : f.outcome === 'changed-during-publish'
            ? 'published, changed again since (publishes again after the quiet period)'
            : f.outcome === 'not-staged'
              ? 'not staged'
              : `FAILED: ${f.error ?? 'unknown error'}`;
    return `  ${f.path}: ${outcome}`;
  });
  const summary = `${r.published} published, ${r.failed} failed, ${r.files.length} in all`;
  return `${lines.join('\n')}\n${summary}\n`;
}

export async function flushCommand(arg: string | undefined, stateDir: string | undefined): Promise<CommandOutput> {
  const dirs = candidateStateDirs(stateDir);
  const { found, problems } = await findServers(dirs);
  const warnings = problems.map((p) => `s3nfs: ${p}\n`).join('');
  if (found.length === 0) return { stdout: '', stderr: warnings + noServerMessage(stateDir, dirs), code: 3 };
  const target = resolveFlushTarget(arg, found);
  if ('problem' in target) return { stdout: '', stderr: `${warnings}s3nfs: flush: ${target.problem}\n`, code: 2 };
  try {
    const report = await controlRequest(
      target.server.socket,
      target.exportPath === '' ? { op: 'flush' } : { op: 'flush', path: target.exportPath },
      { timeoutMs: 0 },
    );
    const what = target.exportPath === '' ? target.server.status.exports[0]?.path ?? '/' : target.exportPath;
    return { stdout: renderFlush(report, what), stderr: warnings, code: report.failed > 0 ? 1 : 0 };
  } catch (err) {
    return { stdout: '', stderr: `${warnings}s3nfs: flush failed: ${err instanceof Error ? err.message : String(err)}\n`, code: 1 };
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits for a process to exit; false when it still runs after timeoutMs (0: wait for ever). */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Number.POSITIVE_INFINITY;
  while (processAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** Asks the server of a state directory to stop (publishing pending writes first) and waits for it. */
export async function stopServer(stateDir: string, timeoutMs: number): Promise<CommandOutput> {
  const socket = controlSocketOf(stateDir);
  let pid: number;
  try {
    pid = (await controlRequest(socket, { op: 'stop' })).pid;
  } catch (err) {
    const message = err instanceof ControlClientError && err.kind === 'no-server' ? `no server is running with state directory ${stateDir}` : String(err instanceof Error ? err.message : err);
    return { stdout: '', stderr: `s3nfs: ${message}\n`, code: 3 };
  }
  if (await waitForExit(pid, timeoutMs)) return { stdout: `s3nfs: server ${pid} stopped\n`, stderr: '', code: 0 };
  return {
    stdout: '',
    stderr: `s3nfs: server ${pid} is still stopping after ${formatDuration(timeoutMs)} (publishing pending writes?)\n`,
    code: 1,
  };
}

export async function stopCommand(stateDir: string | undefined, timeoutMs: number): Promise<CommandOutput> {
  const dirs = candidateStateDirs(stateDir);
  if (stateDir !== undefined) return stopServer(dirs[0]!, timeoutMs);
  const { found } = await findServers(dirs);
  if (found.length === 0) return { stdout: '', stderr: noServerMessage(stateDir, dirs), code: 3 };
  if (found.length > 1) {
    return { stdout: '', stderr: 's3nfs: several servers run: name one with --state-dir (s3nfs status lists them)\n', code: 2 };
  }
  return stopServer(found[0]!.stateDir, timeoutMs);
}
