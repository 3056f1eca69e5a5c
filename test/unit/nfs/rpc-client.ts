// A small typed RPC-over-TCP client for the NFS, MOUNT and portmap tests: encodes a call with a
// procedure's argument codec, and decodes the reply header and (on SUCCESS) the results, keeping
// the size of the results on the wire so byte budgets can be checked.

import net from 'node:net';
import { RecordDecoder, frameRecord } from '../../../protocol/record.js';
import { AcceptStat, NULL_AUTH, ReplyStat, authSysCred, readReplyHeader, writeCallHeader } from '../../../protocol/rpc.js';
import type { AcceptedReply, OpaqueAuth, ReplyHeader } from '../../../protocol/rpc.js';
import type { ProcedureCodecs } from '../../../protocol/program.js';
import { XdrError, XdrReader, XdrWriter } from '../../../protocol/xdr.js';
import type { Codec } from '../../../protocol/xdr.js';

export type CallOutcome<R> =
  | { kind: 'ok'; result: R; resultBytes: number }
  | { kind: 'accepted'; accepted: AcceptedReply }
  | { kind: 'denied'; header: ReplyHeader };

export const ROOT_CRED: OpaqueAuth = authSysCred({ stamp: 1, machinename: 'test', uid: 0, gid: 0, gids: [] });

export function userCred(uid: number, gid: number, gids: number[] = []): OpaqueAuth {
  return authSysCred({ stamp: 1, machinename: 'test', uid, gid, gids });
}

export class RpcTestClient {
  private nextXid = 0x1000;
  private readonly decoder = new RecordDecoder({ maxRecordSize: 16 * 1024 * 1024 });
  private readonly waiters = new Map<number, (record: Buffer) => void>();

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      const { records, error } = this.decoder.push(chunk);
      if (error) {
        socket.destroy(error);
        return;
      }
      for (const r of records) {
        const waiter = this.waiters.get(r.readUInt32BE(0));
        if (waiter) {
          this.waiters.delete(r.readUInt32BE(0));
          waiter(r);
        }
      }
    });
    socket.on('error', () => {});
  }

  static connect(port: number): Promise<RpcTestClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.off('error', reject);
        resolve(new RpcTestClient(s));
      });
      s.once('error', reject);
    });
  }

  /** Sends raw encoded arguments to any (program, version, procedure) and returns the raw reply. */
  async rawCall(prog: number, vers: number, proc: number, args: Buffer, cred: OpaqueAuth = ROOT_CRED): Promise<Buffer> {
    const xid = this.nextXid++;
    const w = new XdrWriter();
    writeCallHeader(w, { xid, rpcvers: 2, prog, vers, proc, cred, verf: NULL_AUTH });
    w.opaqueFixed(args);
    const reply = new Promise<Buffer>((resolve) => this.waiters.set(xid, resolve));
    this.socket.write(Buffer.concat(frameRecord(w.toBuffers())));
    return reply;
  }

  async call<A, R>(
    prog: number,
    vers: number,
    codecs: ProcedureCodecs<A, R>,
    args: A,
    cred: OpaqueAuth = ROOT_CRED,
  ): Promise<CallOutcome<R>> {
    const w = new XdrWriter();
    codecs.args.encode(w, args);
    const reply = await this.rawCall(prog, vers, codecs.proc, w.toBuffer(), cred);
    return decodeReply(reply, codecs.res);
  }

  /** Like call, but the reply must be SUCCESS; returns the results. */
  async ok<A, R>(prog: number, vers: number, codecs: ProcedureCodecs<A, R>, args: A, cred?: OpaqueAuth): Promise<R> {
    const out = await this.call(prog, vers, codecs, args, cred);
    if (out.kind !== 'ok') throw new Error(`${codecs.name}: reply was not SUCCESS: ${JSON.stringify(out)}`);
    return out.result;
  }

  close(): void {
    this.socket.destroy();
  }
}

export function decodeReply<R>(reply: Buffer, res: Codec<R>): CallOutcome<R> {
  const r = new XdrReader(reply);
  const header = readReplyHeader(r);
  if (header.replyStat !== ReplyStat.MSG_ACCEPTED) return { kind: 'denied', header };
  if (header.accepted.stat !== AcceptStat.SUCCESS) return { kind: 'accepted', accepted: header.accepted };
  const start = r.offset;
  const result = res.decode(r);
  if (r.remaining() !== 0) throw new XdrError(`${r.remaining()} bytes after the results`);
  return { kind: 'ok', result, resultBytes: reply.length - start };
}
