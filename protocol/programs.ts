// Every program this package can decode, and whole-message decoding/encoding on top of the
// procedure tables: an RPC header followed by that procedure's arguments or results.

import { MOUNT3 } from './mount.js';
import { NFSACL3 } from './nfsacl.js';
import { NFS3 } from './nfs3/program.js';
import { PMAP2 } from './portmap.js';
import { RPCB3, RPCB4 } from './rpcbind.js';
import { ProcedureIndex } from './program.js';
import type { AnyProcedureCodecs } from './program.js';
import { AcceptStat, MsgType, ReplyStat, readRpcHeader, writeRpcHeader } from './rpc.js';
import type { RpcHeader } from './rpc.js';
import { XdrError, XdrReader, XdrWriter } from './xdr.js';

export const KNOWN_PROCEDURES = new ProcedureIndex([PMAP2, RPCB3, RPCB4, MOUNT3, NFS3, NFSACL3]);

/** Where a message's body is: a call's procedure, or the call a reply answers. */
export interface ProcedureKey {
  prog: number;
  vers: number;
  proc: number;
}

/**
 * A decoded message. `body` is the arguments of a call or the results of a successful reply;
 * replies in any other state have no body.
 */
export interface RpcMessage {
  header: RpcHeader;
  body: unknown;
}

function hasBody(h: RpcHeader): boolean {
  return (
    h.type === MsgType.CALL ||
    (h.reply.replyStat === ReplyStat.MSG_ACCEPTED && h.reply.accepted.stat === AcceptStat.SUCCESS)
  );
}

/**
 * Decodes a whole message (without record mark). Replies carry no procedure number, so `key`
 * says which call they answer; for calls it is read from the header. Returns undefined when the
 * procedure is unknown. Throws XdrError when the bytes are malformed or not consumed exactly.
 */
export function decodeMessage(
  buf: Buffer,
  key?: ProcedureKey,
  index: ProcedureIndex = KNOWN_PROCEDURES,
): RpcMessage | undefined {
  const r = new XdrReader(buf);
  const header = readRpcHeader(r);
  let body: unknown;
  if (hasBody(header)) {
    const k = header.type === MsgType.CALL ? header.call : key;
    if (!k) throw new XdrError('a reply decodes only with the procedure it answers');
    const codecs = index.find(k.prog, k.vers, k.proc);
    if (!codecs) return undefined;
    body = (header.type === MsgType.CALL ? codecs.args : codecs.res).decode(r);
  }
  if (r.remaining() !== 0) throw XdrError.decoding(`${r.remaining()} trailing bytes`, 'trailing');
  return { header, body };
}

/** Encodes a message decoded by decodeMessage (the same key rules apply). */
export function encodeMessage(
  m: RpcMessage,
  key?: ProcedureKey,
  index: ProcedureIndex = KNOWN_PROCEDURES,
): Buffer {
  const w = new XdrWriter();
  writeRpcHeader(w, m.header);
  if (hasBody(m.header)) {
    const k = m.header.type === MsgType.CALL ? m.header.call : key;
    const codecs: AnyProcedureCodecs | undefined = k && index.find(k.prog, k.vers, k.proc);
    if (!codecs) throw new XdrError('unknown procedure');
    (m.header.type === MsgType.CALL ? codecs.args : codecs.res).encode(w, m.body);
  }
  return w.toBuffer();
}
