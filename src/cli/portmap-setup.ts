// How clients find the NFS and MOUNT ports (--portmap): register them with the machine's rpcbind
// when one answers on port 111, else answer portmap queries on port 111 ourselves when we may bind
// it. `auto` does what it can and says what it did; `on` refuses to start when neither works.

import { MOUNT_PROGRAM, MOUNT_V3 } from '../../protocol/mount.js';
import { NFS_PROGRAM, NFS_V3 } from '../../protocol/nfs3/constants.js';
import { NLM_PROGRAM, NLM_V4 } from '../../protocol/nlm4.js';
import { IPPROTO_TCP, IPPROTO_UDP, PMAP_PORT } from '../../protocol/portmap.js';
import type { Logger } from '../log/logger.js';
import { RpcCallError } from '../portmap/rpc-call.js';
import { startUdpPortmapper, type UdpPortmapper } from '../portmap/udp-portmapper.js';
import type { RpcProgram } from '../server/program.js';
import { SystemRpcbind, type ProgramRegistration, type SystemRpcbindOptions } from '../portmap/rpcbind-registration.js';
import type { PortmapMode } from './serve-options.js';

export interface PortmapSetup {
  /** What was done, for logs and `s3nfs status`. */
  readonly description: string;
  /** True when clients can find the ports through port 111. */
  readonly available: boolean;
  /** Where this server itself answers portmap (port 111 over TCP, and UDP when it could). */
  readonly servedPorts?: readonly { prot: number; port: number }[];
  /** Undoes a registration (nothing to do for a port-111 listener: it closes with the server). */
  stop(): Promise<void>;
}

export class PortmapSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PortmapSetupError';
  }
}

export interface PortmapSetupOptions {
  mode: PortmapMode;
  /** The NFS server's listen address and its port. */
  listen: string;
  port: number;
  /** Starts answering on another port of the same server (portmap is one of its programs). */
  listenAlso: (host: string, port: number) => Promise<unknown>;
  /** The portmap program, to answer it over UDP as well when serving port 111. */
  portmapProgram: RpcProgram;
  /** More programs to answer over UDP on port 111 when serving it (the status monitor). */
  udpPrograms?: readonly RpcProgram[];
  /** Who may be answered over UDP (--allow-client); default everyone. */
  allows?: (address: string) => boolean;
  log: Logger;
  /** Where to look for rpcbind (tests); default 127.0.0.1:111. */
  rpcbind?: SystemRpcbindOptions;
  /** The port to serve portmap on when there is no rpcbind; default 111. */
  portmapPort?: number;
}

/** What rpcbind should map to this server, by the address family it listens on. */
export function registrationsFor(listen: string, port: number): ProgramRegistration[] {
  const v6 = listen.includes(':');
  const families: { netid: 'tcp' | 'tcp6'; address: string }[] =
    listen === '::'
      ? [
          { netid: 'tcp', address: '0.0.0.0' },
          { netid: 'tcp6', address: '::' },
        ]
      : [{ netid: v6 ? 'tcp6' : 'tcp', address: listen === 'localhost' ? '127.0.0.1' : listen }];
  const out: ProgramRegistration[] = [];
  for (const f of families) {
    out.push({ program: NFS_PROGRAM, version: NFS_V3, port, ...f });
    out.push({ program: MOUNT_PROGRAM, version: MOUNT_V3, port, ...f });
    out.push({ program: NLM_PROGRAM, version: NLM_V4, port, ...f });
  }
  return out;
}

const NOTHING: Pick<PortmapSetup, 'stop'> = { stop: async () => {} };

export async function setUpPortmap(o: PortmapSetupOptions): Promise<PortmapSetup> {
  if (o.mode === 'off') return { description: 'off', available: false, ...NOTHING };
  const unavailable = (why: string): PortmapSetup => {
    if (o.mode === 'on') throw new PortmapSetupError(`--portmap on: ${why}`);
    o.log.info('clients must be told the ports (no portmapper for them)', { reason: why });
    return { description: `unavailable: ${why}`, available: false, ...NOTHING };
  };

  let rpcbind: SystemRpcbind | undefined;
  try {
    rpcbind = await SystemRpcbind.find(o.rpcbind);
  } catch (err) {
    return unavailable(err instanceof Error ? err.message : String(err));
  }

  if (rpcbind) {
    const entries = registrationsFor(o.listen, o.port);
    let outcome;
    try {
      outcome = await rpcbind.register(entries);
    } catch (err) {
      if (err instanceof RpcCallError) return unavailable(`registering with rpcbind failed: ${err.message}`);
      throw err;
    }
    if (outcome.conflicts.length > 0) {
      o.log.warn('rpcbind already maps this program to another server; clients asking the portmapper reach that one', {
        programs: outcome.conflicts
          .map((c) => `${c.entry.program}v${c.entry.version}/${c.entry.netid}@${c.theirs}`)
          .join(','),
      });
    }
    for (const r of outcome.refused) {
      o.log.warn('rpcbind refused a registration', { program: r.entry.program, version: r.entry.version, reason: r.reason });
    }
    const registered = outcome.registered;
    if (registered.length === 0) return unavailable('rpcbind registered nothing (see the warnings above)');
    o.log.info('registered with rpcbind', { via: rpcbind.via, entries: registered.length });
    const system = rpcbind;
    return {
      description: `registered with rpcbind (${system.via})`,
      available: true,
      stop: async () => {
        const problems = await system.unregister(registered);
        for (const p of problems) o.log.warn('unregistering from rpcbind failed', { problem: p });
      },
    };
  }

  const pmapPort = o.portmapPort ?? PMAP_PORT;
  try {
    await o.listenAlso(o.listen, pmapPort);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EACCES'
        ? `no rpcbind runs, and binding port ${pmapPort} needs root`
        : code === 'EADDRINUSE'
          ? `no portmapper answers, and port ${pmapPort} is in use`
          : `no rpcbind runs, and port ${pmapPort} cannot be bound: ${err instanceof Error ? err.message : String(err)}`;
    return unavailable(why);
  }
  let udp: UdpPortmapper | undefined;
  try {
    udp = await startUdpPortmapper({
      host: o.listen,
      port: pmapPort,
      programs: [o.portmapProgram, ...(o.udpPrograms ?? [])],
      logger: o.log,
      ...(o.allows ? { allows: o.allows } : {}),
    });
  } catch (err) {
    // TCP is what NFS clients use; UDP serves tools like rpcinfo -p and showmount.
    o.log.warn('portmap over UDP is not available', { port: pmapPort, err });
  }
  o.log.info('answering portmap queries (no rpcbind runs here)', { port: pmapPort, udp: udp !== undefined });
  const socket = udp;
  return {
    description: `serving portmap on port ${pmapPort}${socket ? ' (TCP and UDP)' : ' (TCP)'}`,
    available: true,
    servedPorts: [
      { prot: IPPROTO_TCP, port: pmapPort },
      ...(socket ? [{ prot: IPPROTO_UDP, port: pmapPort }] : []),
    ],
    stop: async () => {
      await socket?.close();
    },
  };
}
