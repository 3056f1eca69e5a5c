// The portmapper over UDP: tools ask port 111 by datagram (rpcinfo -p, showmount, mount.nfs's
// first MOUNT probe), so a server that answers portmap on port 111 answers there over UDP too.
// Each datagram is one RPC call (no record marking); only the programs given are served (the
// portmapper, and the status monitor's SM_NOTIFY), and the reply goes back to the sender's address. Replies are small and the program cannot be used to
// forward calls (no CALLIT), so this is no amplifier.

import dgram from 'node:dgram';
import net from 'node:net';
import type { LogSink } from '../log/logger.js';
import { Dispatcher } from '../server/dispatcher.js';
import { ProgramRegistry } from '../server/program.js';
import type { RpcProgram } from '../server/program.js';

/** Datagrams larger than this are no portmap call and are dropped. */
const MAX_DATAGRAM = 8192;

export interface UdpPortmapper {
  readonly port: number;
  close(): Promise<void>;
}

export interface UdpPortmapperOptions {
  host: string;
  port: number;
  /** The portmapper, and any other program to answer over UDP on the same port (the status monitor). */
  programs: readonly RpcProgram[];
  logger: LogSink;
  /** Whether a sender may be answered (the --allow-client list); default everyone. */
  allows?: (address: string) => boolean;
}

export function startUdpPortmapper(o: UdpPortmapperOptions): Promise<UdpPortmapper> {
  const registry = new ProgramRegistry();
  for (const p of o.programs) registry.register(p);
  const dispatcher = new Dispatcher({ registry, logger: o.logger });
  const type = net.isIPv6(o.host) ? 'udp6' : 'udp4';
  const socket = dgram.createSocket({ type, reuseAddr: false });
  socket.on('message', (msg, rinfo) => {
    if (msg.length > MAX_DATAGRAM) return;
    const address = rinfo.address.startsWith('::ffff:') ? rinfo.address.slice(7) : rinfo.address;
    if (o.allows && !o.allows(address)) return;
    const outcome = dispatcher.dispatch(msg, { client: { address, port: rinfo.port }, connectionId: 0 });
    if (outcome.kind !== 'reply') return;
    void outcome.reply.then(
      (buffers) => socket.send(Buffer.concat(buffers), rinfo.port, rinfo.address, () => {}),
      () => {},
    );
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: o.host, port: o.port, exclusive: true }, () => {
      socket.off('error', reject);
      socket.on('error', (err) => o.logger.warn('portmap UDP socket error', { err }));
      resolve({
        port: socket.address().port,
        close: () => new Promise<void>((done) => socket.close(() => done())),
      });
    });
  });
}
