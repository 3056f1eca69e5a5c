// The host side of server-supervisor.ts: builds the UML harness's server command for `s3nfs serve` under the
// supervisor, gives the guest script a `ctl` shell function (kill -9, restart, marks, waits), and lets the test
// wait for the guest's marks, release the guest and read the server's start/kill/exit history.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MountSpec } from './uml.js';
import { shellQuote } from './uml.js';
import type { SupervisorEvent } from './server-supervisor.js';

export type { SupervisorEvent } from './server-supervisor.js';

/** Ports inside the test's own network namespace, so fixed numbers never collide with other runs. */
export const NFS_PORT = 2049;
export const CONTROL_PORT = 2050;
/** Where the server listens (on the namespace's loopback) when the supervisor relays for it. */
export const UPSTREAM_PORT = 2051;

export function s3nfsMount(bucket: string, prefix = ''): MountSpec {
  const p = prefix.replace(/\/+$/, '');
  return {
    export: p === '' ? `/${bucket}` : `/${bucket}/${p}`,
    options: `vers=3,proto=tcp,port=${NFS_PORT},mountport=${NFS_PORT},mountproto=tcp,nolock`,
  };
}

export interface ServeOptions {
  bucket: string;
  /** '' or a key prefix ending in '/'. */
  prefix?: string;
  endpoint: string;
  stateDir: string;
  /** More `serve` flags, e.g. ['--publish-delay', '1', '--allow-delete']. */
  flags?: string[];
  /** A shell command run in the namespace before the server starts (it must finish within the harness's 30 s). */
  prelude?: string;
  /**
   * Put the supervisor between client and server (server-supervisor.ts --proxy): needed for `ctl arm-kill`,
   * and a restarted server is reached without the client's reconnect backoff.
   */
  proxy?: boolean;
}

/**
 * Bash `ctl` for guest scripts: `ctl kill9`, `ctl start [ARG...]`, `ctl stop`, `ctl mark NAME`,
 * `ctl wait NAME [SECONDS]`, `ctl arm-kill COMMIT`, `ctl wait-killed [SECONDS]` (server-supervisor.ts).
 * Prints the supervisor's answer on stderr; fails unless it starts with "ok".
 */
export const GUEST_CTL = String.raw`ctl() {
  local reply=""
  exec 9<>"/dev/tcp/$UML_HOST_ADDR/$S3NFS_CTL_PORT" || { echo "ctl $*: cannot connect" >&2; return 1; }
  printf '%s\n' "$*" >&9
  IFS= read -r reply <&9 || true
  exec 9>&- 9<&-
  echo "ctl $*: $reply" >&2
  case $reply in ok*) return 0 ;; *) return 1 ;; esac
}
`;

export class SupervisedServer {
  private constructor(
    /** Host directory shared with the supervisor: events.jsonl, marks/, release/. */
    readonly dir: string,
    /** The harness's serverCommand. */
    readonly serverCommand: string,
  ) {}

  static async create(serve: ServeOptions): Promise<SupervisedServer> {
    const dir = await mkdtemp(path.join(tmpdir(), 's3nfs-e2e-ctl-'));
    const target = `${serve.bucket}${serve.prefix ? `/${serve.prefix}` : ''}`;
    const serveArgs = [
      './bin/s3nfs', 'serve', target,
      '--endpoint-url', serve.endpoint,
      '--port', String(serve.proxy ? UPSTREAM_PORT : NFS_PORT),
      '--state-dir', serve.stateDir,
      '--insecure',
      ...(serve.flags ?? []),
    ].map(shellQuote);
    const command = [
      serve.prelude === undefined ? '' : `${serve.prelude} &&`,
      'exec node dist/test/e2e/support/server-supervisor.js',
      `--control "$UML_HOST_ADDR:${CONTROL_PORT}"`,
      `--dir ${shellQuote(dir)}`,
      serve.proxy ? `--proxy "$UML_HOST_ADDR:${NFS_PORT}" --upstream ${UPSTREAM_PORT}` : '',
      '--',
      ...serveArgs,
      // Listening beyond loopback needs the clients named: only the guest.
      serve.proxy ? '--listen 127.0.0.1' : '--listen "$UML_HOST_ADDR" --allow-client "$UML_GUEST_ADDR"',
    ]
      .filter((w) => w !== '')
      .join(' ');
    return new SupervisedServer(dir, command);
  }

  /** Environment the guest script needs for `ctl`. */
  get guestEnv(): Record<string, string> {
    return { S3NFS_CTL_PORT: String(CONTROL_PORT) };
  }

  /** Resolves with the wall-clock time at which the guest ran `ctl mark NAME`. */
  async waitForMark(name: string, timeoutMs: number, stillRunning: () => boolean = () => true): Promise<number> {
    const file = path.join(this.dir, 'marks', name);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return Number(await readFile(file, 'utf8'));
      } catch {
        if (Date.now() > deadline) throw new Error(`the guest did not reach mark "${name}" within ${timeoutMs} ms`);
        if (!stillRunning()) throw new Error(`the guest run ended before mark "${name}"`);
        await sleep(100);
      }
    }
  }

  /** Lets a guest blocked in `ctl wait NAME` go on. */
  async release(name: string): Promise<void> {
    await writeFile(path.join(this.dir, 'release', name), String(Date.now()));
  }

  async events(): Promise<SupervisorEvent[]> {
    const text = await readFile(path.join(this.dir, 'events.jsonl'), 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as SupervisorEvent);
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
