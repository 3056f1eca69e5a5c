// The reference NFSv3 server for e2e tests: nfs-ganesha (FSAL VFS) exporting a host directory, started by
// scripts/uml/ganesha.sh inside the harness's network namespace. Useful to tell a client-side or harness
// problem from an s3nfs one, and as the baseline the captures in test/fixtures/golden come from.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { MountSpec } from './uml.js';
import { repoRoot, shellQuote } from './uml.js';

export interface GaneshaServer {
  serverCommand: string;
  mount: MountSpec;
}

export interface GaneshaOptions {
  /** Host directory to export (must exist). */
  dir: string;
  nfsPort?: number;
  mountPort?: number;
  /** Path clients mount. */
  pseudo?: string;
}

export function ganeshaServer(opts: GaneshaOptions): GaneshaServer {
  const nfsPort = opts.nfsPort ?? 20490;
  const mountPort = opts.mountPort ?? 20491;
  const pseudo = opts.pseudo ?? '/export';
  const script = path.join(repoRoot, 'scripts/uml/ganesha.sh');
  const serverCommand = [script, '--dir', opts.dir, '--nfs-port', nfsPort, '--mount-port', mountPort, '--pseudo', pseudo]
    .map((w) => shellQuote(String(w)))
    .join(' ');
  return {
    serverCommand,
    mount: {
      export: pseudo,
      options: `vers=3,proto=tcp,port=${nfsPort},mountport=${mountPort},mountproto=tcp,nolock`,
    },
  };
}

/** Why ganesha cannot run here, or null. */
export function ganeshaUnavailableReason(): string | null {
  for (const tool of ['ganesha.nfsd', 'rpcbind', 'unshare']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  return null;
}
