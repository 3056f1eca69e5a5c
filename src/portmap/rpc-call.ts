// A one-shot ONC RPC client over a stream socket (TCP or a unix socket): connect, send one call,
// read one reply, close. Enough for talking to rpcbind at start and stop; not for traffic.

import { randomInt } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import type { ProcedureCodecs } from '../../protocol/program.js';
import { RecordDecoder, frameRecord } from '../../protocol/record.js';
import {
  AcceptStat,
  NULL_AUTH,
  RPC_VERSION,
  RejectStat,
  ReplyStat,
  authSysCred,
  readReplyHeader,
  writeCallHeader,
} from '../../protocol/rpc.js';
import type { OpaqueAuth } from '../../protocol/rpc.js';
import { XdrReader, XdrWriter } from '../../protocol/xdr.js';

export type RpcEndpoint =
  | { readonly path: string }
  | {
      readonly host: string;
      readonly port: number;
      /** Bind a source port below 1024 (root only), as rpcbind wants for SET/UNSET over TCP. */
      readonly privilegedSourcePort?: boolean;
      /** Bind this source address (and port) instead of letting the kernel choose. */
      readonly localAddress?: string;
      readonly localPort?: number;
    };

export type RpcCallErrorKind =
  /** Could not connect (nothing listens, no such socket, permission). */
  | 'unreachable'
  | 'timeout'
  /** The connection closed before a reply came. */
  | 'closed'
  /** The server answered with something other than SUCCESS (see `detail`). */
  | 'refused'
  /** The reply could not be decoded. */
  | 'garbled';

export class RpcCallError extends Error {
  constructor(
    readonly kind: RpcCallErrorKind,
    message: string,
    /** For 'refused': PROG_UNAVAIL, PROG_MISMATCH, AUTH_ERROR… */
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'RpcCallError';
  }
}

export interface RpcCallOptions {
  readonly timeoutMs?: number;
  /** AUTH_SYS with this process's ids (the default), or AUTH_NONE. */
  readonly auth?: 'sys' | 'none';
}

const MAX_REPLY = 1024 * 1024;

function credential(kind: 'sys' | 'none'): OpaqueAuth {
  if (kind === 'none') return NULL_AUTH;
  return authSysCred({
    stamp: Math.floor(Date.now() / 1000) >>> 0,
    machinename: os.hostname().slice(0, 255),
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    gids: [],
  });
}

function describeEndpoint(e: RpcEndpoint): string {
  return 'path' in e ? e.path : `${e.host}:${e.port}`;
}

/** Connects, from a port below 1024 when asked (only root may; tries a few on EADDRINUSE). */
async function connect(e: RpcEndpoint, timeoutMs: number): Promise<net.Socket> {
  const attempt = (localPort?: number): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      let opts: net.NetConnectOpts;
      if ('path' in e) {
        opts = { path: e.path };
      } else {
        const port = localPort ?? e.localPort;
        opts = {
          host: e.host,
          port: e.port,
          ...(port === undefined ? {} : { localPort: port }),
          ...(e.localAddress === undefined ? {} : { localAddress: e.localAddress }),
        };
      }
      const s = net.connect(opts);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new RpcCallError('timeout', `no connection to ${describeEndpoint(e)} within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  if ('path' in e || !e.privilegedSourcePort) {
    try {
      return await attempt();
    } catch (err) {
      throw asUnreachable(err, e);
    }
  }
  let last: unknown;
  for (let i = 0; i < 16; i++) {
    try {
      return await attempt(randomInt(600, 1024));
    } catch (err) {
      last = err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' && code !== 'EADDRNOTAVAIL') break;
    }
  }
  throw asUnreachable(last, e);
}

function asUnreachable(err: unknown, e: RpcEndpoint): RpcCallError {
  if (err instanceof RpcCallError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return new RpcCallError('unreachable', `cannot connect to ${describeEndpoint(e)}: ${code ?? String(err)}`);
}

/** Makes one call and returns its decoded result; throws RpcCallError. */
export async function rpcCall<A, R>(
  endpoint: RpcEndpoint,
  program: number,
  version: number,
  codecs: ProcedureCodecs<A, R>,
  args: A,
  options: RpcCallOptions = {},
): Promise<R> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const socket = await connect(endpoint, timeoutMs);
  const xid = randomInt(1, 0x7fffffff);
  const w = new XdrWriter(128);
  writeCallHeader(w, {
    xid,
    rpcvers: RPC_VERSION,
    prog: program,
    vers: version,
    proc: codecs.proc,
    cred: credential(options.auth ?? 'sys'),
    verf: NULL_AUTH,
  });
  codecs.args.encode(w, args);
  const where = describeEndpoint(endpoint);
  const name = `${codecs.name} (program ${program} v${version})`;

  const reply = await new Promise<Buffer>((resolve, reject) => {
    const decoder = new RecordDecoder({ maxRecordSize: MAX_REPLY });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new RpcCallError('timeout', `${name} to ${where}: no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (fn: () => void): void => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.destroy();
      fn();
    };
    socket.on('data', (chunk: Buffer) => {
      const { records, error } = decoder.push(chunk);
      if (error) return done(() => reject(new RpcCallError('garbled', `${name} to ${where}: ${error.message}`)));
      const mine = records.find((r) => r.length >= 4 && r.readUInt32BE(0) === xid);
      if (mine) done(() => resolve(Buffer.from(mine)));
    });
    socket.on('error', (err) => done(() => reject(new RpcCallError('closed', `${name} to ${where}: ${err.message}`))));
    socket.on('close', () => done(() => reject(new RpcCallError('closed', `${name} to ${where}: connection closed`))));
    socket.write(Buffer.concat(frameRecord(w.toBuffers())));
  });

  const r = new XdrReader(reply);
  try {
    const header = readReplyHeader(r);
    if (header.replyStat === ReplyStat.MSG_DENIED) {
      const j = header.rejected;
      const detail = j.stat === RejectStat.AUTH_ERROR ? `AUTH_ERROR(${j.authStat})` : 'RPC_MISMATCH';
      throw new RpcCallError('refused', `${name} to ${where} was denied: ${detail}`, detail);
    }
    const a = header.accepted;
    if (a.stat !== AcceptStat.SUCCESS) {
      const detail = Object.entries(AcceptStat).find(([, v]) => v === a.stat)?.[0] ?? String(a.stat);
      throw new RpcCallError('refused', `${name} to ${where}: ${detail}`, detail);
    }
    return codecs.res.decode(r);
  } catch (err) {
    if (err instanceof RpcCallError) throw err;
    throw new RpcCallError('garbled', `${name} to ${where}: bad reply: ${err instanceof Error ? err.message : String(err)}`);
  }
}
