// Registering this server's programs with the machine's own rpcbind (or old portmap), so that
// clients asking port 111 find NFS and MOUNT: SET at start, UNSET at stop, like any RPC service.
//
// rpcbind only accepts SET/UNSET from this machine: over its unix socket (any user; it records the
// caller's uid as owner), or over loopback TCP from a privileged port (root). Registrations use
// rpcbind version 4 (netid + universal address), or portmap version 2 when only that is spoken.
// A registration that is already there for another port belongs to another server and is left
// alone; one for our own port is a leftover of an earlier run of ours and is replaced.

import { existsSync } from 'node:fs';
import { IPPROTO_TCP, PMAP2, PMAP_PORT, PMAP_PROGRAM, PMAP_V2 } from '../../protocol/portmap.js';
import { RPCB4, RPCBIND_V4 } from '../../protocol/rpcbind.js';
import { rpcCall, RpcCallError } from './rpc-call.js';
import type { RpcEndpoint } from './rpc-call.js';

/** Where rpcbind keeps its local socket (Debian: /run; older systems: /var/run). */
export const RPCBIND_SOCKETS: readonly string[] = ['/run/rpcbind.sock', '/var/run/rpcbind.sock'];

export interface ProgramRegistration {
  readonly program: number;
  readonly version: number;
  /** 'tcp' (IPv4) or 'tcp6'. */
  readonly netid: 'tcp' | 'tcp6';
  readonly port: number;
  /** The address served on ('0.0.0.0' or '::' for all). */
  readonly address: string;
}

export interface RegisterOutcome {
  readonly registered: ProgramRegistration[];
  /** Entries rpcbind already maps to another port: another server offers that program. */
  readonly conflicts: { entry: ProgramRegistration; theirs: string }[];
  /** Entries SET refused for another reason. */
  readonly refused: { entry: ProgramRegistration; reason: string }[];
}

/** rpcbind's universal address of an IP address and port: "127.0.0.1.8.1" is port 2049. */
export function universalAddress(address: string, port: number): string {
  return `${address}.${port >> 8}.${port & 0xff}`;
}

/** The port of a universal address, or undefined when it is not one. */
export function portOfUniversalAddress(uaddr: string): number | undefined {
  const m = /\.(\d{1,3})\.(\d{1,3})$/.exec(uaddr);
  if (!m) return undefined;
  const hi = Number(m[1]);
  const lo = Number(m[2]);
  return hi < 256 && lo < 256 ? hi * 256 + lo : undefined;
}

export interface SystemRpcbindOptions {
  /** Default 127.0.0.1:111. */
  readonly host?: string;
  readonly port?: number;
  readonly timeoutMs?: number;
  /** Unix sockets to try for registration; default RPCBIND_SOCKETS. */
  readonly sockets?: readonly string[];
  /** Whether this process may bind a privileged source port (default: running as root). */
  readonly privileged?: boolean;
}

export class SystemRpcbind {
  /** 4 (rpcbind) or 2 (portmap only), learned on first use. */
  private version: 4 | 2 = 4;

  private constructor(
    /** Where SET/UNSET go. */
    readonly endpoint: RpcEndpoint,
    private readonly timeoutMs: number,
  ) {}

  /** How registrations reach rpcbind, for logs. */
  get via(): string {
    return 'path' in this.endpoint ? this.endpoint.path : `tcp ${this.endpoint.host}:${this.endpoint.port}`;
  }

  /**
   * The portmapper clients of this machine would ask, when one answers on 127.0.0.1:111 in this
   * network namespace, with a way to register with it; undefined when none answers. Throws
   * RpcCallError('unreachable') when one answers but this process cannot register with it.
   */
  static async find(options: SystemRpcbindOptions = {}): Promise<SystemRpcbind | undefined> {
    const host = options.host ?? '127.0.0.1';
    const port = options.port ?? PMAP_PORT;
    const timeoutMs = options.timeoutMs ?? 2000;
    try {
      await rpcCall({ host, port }, PMAP_PROGRAM, PMAP_V2, PMAP2.procedures.NULL, undefined, { timeoutMs, auth: 'none' });
    } catch (err) {
      if (err instanceof RpcCallError && (err.kind === 'unreachable' || err.kind === 'timeout' || err.kind === 'closed')) {
        return undefined;
      }
      throw err;
    }
    const privileged = options.privileged ?? process.getuid?.() === 0;
    if (privileged) return new SystemRpcbind({ host, port, privilegedSourcePort: true }, timeoutMs);
    const socket = (options.sockets ?? RPCBIND_SOCKETS).find((p) => existsSync(p));
    if (socket === undefined) {
      throw new RpcCallError(
        'unreachable',
        `a portmapper answers on ${host}:${port}, but registering needs root or its unix socket (${RPCBIND_SOCKETS.join(', ')})`,
      );
    }
    return new SystemRpcbind({ path: socket }, timeoutMs);
  }

  /** An rpcbind at a known endpoint (tests). */
  static at(endpoint: RpcEndpoint, timeoutMs = 2000): SystemRpcbind {
    return new SystemRpcbind(endpoint, timeoutMs);
  }

  async register(entries: readonly ProgramRegistration[]): Promise<RegisterOutcome> {
    const outcome: RegisterOutcome = { registered: [], conflicts: [], refused: [] };
    for (const entry of entries) {
      const theirs = await this.lookup(entry);
      if (theirs !== undefined) {
        if (portOfUniversalAddress(theirs) !== entry.port) {
          outcome.conflicts.push({ entry, theirs });
          continue;
        }
        await this.unset(entry); // ours, left by an earlier run that did not stop cleanly
      }
      const ok = await this.set(entry);
      if (ok) outcome.registered.push(entry);
      else outcome.refused.push({ entry, reason: 'rpcbind refused the registration' });
    }
    return outcome;
  }

  /** Removes registrations made by `register`; failures are returned, not thrown. */
  async unregister(entries: readonly ProgramRegistration[]): Promise<string[]> {
    const problems: string[] = [];
    for (const entry of entries) {
      try {
        if (!(await this.unset(entry))) problems.push(`program ${entry.program} v${entry.version}: UNSET refused`);
      } catch (err) {
        problems.push(`program ${entry.program} v${entry.version}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return problems;
  }

  /** The universal address rpcbind has for the entry's program, version and transport, if any. */
  async lookup(entry: ProgramRegistration): Promise<string | undefined> {
    return this.withVersion(
      async () => {
        const uaddr = await this.call4(RPCB4.procedures.GETADDR, this.rpcb(entry));
        return uaddr === '' ? undefined : uaddr;
      },
      async () => {
        const port = await this.call2(PMAP2.procedures.GETPORT, this.mapping(entry));
        return port === 0 ? undefined : universalAddress('0.0.0.0', port);
      },
    );
  }

  private set(entry: ProgramRegistration): Promise<boolean> {
    return this.withVersion(
      () => this.call4(RPCB4.procedures.SET, this.rpcb(entry)),
      () => this.call2(PMAP2.procedures.SET, this.mapping(entry)),
    );
  }

  private unset(entry: ProgramRegistration): Promise<boolean> {
    return this.withVersion(
      () => this.call4(RPCB4.procedures.UNSET, this.rpcb(entry)),
      () => this.call2(PMAP2.procedures.UNSET, this.mapping(entry)),
    );
  }

  private rpcb(entry: ProgramRegistration) {
    return {
      prog: entry.program,
      vers: entry.version,
      netid: entry.netid,
      addr: universalAddress(entry.address, entry.port),
      owner: 's3nfs',
    };
  }

  private mapping(entry: ProgramRegistration) {
    return { prog: entry.program, vers: entry.version, prot: IPPROTO_TCP, port: entry.port };
  }

  /** Runs the rpcbind v4 form, falling back to portmap v2 for good once v4 is refused as unknown. */
  private async withVersion<T>(v4: () => Promise<T>, v2: () => Promise<T>): Promise<T> {
    if (this.version === 4) {
      try {
        return await v4();
      } catch (err) {
        if (!(err instanceof RpcCallError && err.kind === 'refused' && err.detail === 'PROG_MISMATCH')) throw err;
        this.version = 2;
      }
    }
    return v2();
  }

  private call4<A, R>(codecs: Parameters<typeof rpcCall<A, R>>[3], args: A): Promise<R> {
    return rpcCall(this.endpoint, PMAP_PROGRAM, RPCBIND_V4, codecs, args, { timeoutMs: this.timeoutMs });
  }

  private call2<A, R>(codecs: Parameters<typeof rpcCall<A, R>>[3], args: A): Promise<R> {
    return rpcCall(this.endpoint, PMAP_PROGRAM, PMAP_V2, codecs, args, { timeoutMs: this.timeoutMs });
  }
}
