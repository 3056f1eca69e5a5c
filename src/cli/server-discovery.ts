// Finding running servers from the command line: each has a control socket in its state
// directory. `s3nfs serve` uses the default state directory unless told otherwise; `s3nfs mount`
// gives each mount point a state directory of its own under <default>/mounts/.

import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ControlClientError, controlRequest } from '../control/client.js';
import { CONTROL_SOCKET_NAME, type StatusReport } from '../control/protocol.js';
import { defaultStateDir } from './serve-options.js';

/** The state directory `s3nfs mount` uses for a mount point when --state-dir is not given. */
export function mountStateDir(mountpoint: string, base: string = defaultStateDir()): string {
  const abs = path.resolve(mountpoint);
  const name = (path.basename(abs) || 'root').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40);
  const hash = createHash('sha256').update(abs).digest('hex').slice(0, 10);
  return path.join(base, 'mounts', `${name}-${hash}`);
}

export function controlSocketOf(stateDir: string): string {
  return path.join(stateDir, CONTROL_SOCKET_NAME);
}

/** The state directories to look in: the one given, or the default and every mount's. */
export function candidateStateDirs(explicit: string | undefined, base: string = defaultStateDir()): string[] {
  if (explicit !== undefined) return [path.resolve(explicit)];
  const dirs = [base];
  try {
    for (const e of readdirSync(path.join(base, 'mounts'), { withFileTypes: true })) {
      if (e.isDirectory()) dirs.push(path.join(base, 'mounts', e.name));
    }
  } catch {
    // No mounts directory: no servers started by `s3nfs mount`.
  }
  return dirs;
}

export interface FoundServer {
  stateDir: string;
  socket: string;
  status: StatusReport;
}

/** Asks each state directory's control socket for its status; directories without a server are skipped. */
export async function findServers(stateDirs: readonly string[]): Promise<{ found: FoundServer[]; problems: string[] }> {
  const found: FoundServer[] = [];
  const problems: string[] = [];
  await Promise.all(
    stateDirs.map(async (stateDir) => {
      const socket = controlSocketOf(stateDir);
      try {
        const status = await controlRequest(socket, { op: 'status' }, { timeoutMs: 5000 });
        found.push({ stateDir, socket, status });
      } catch (err) {
        if (err instanceof ControlClientError && err.kind === 'no-server') return;
        problems.push(err instanceof Error ? err.message : String(err));
      }
    }),
  );
  found.sort((a, b) => a.stateDir.localeCompare(b.stateDir));
  return { found, problems };
}
