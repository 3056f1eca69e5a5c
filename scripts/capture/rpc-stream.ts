// Turns captured packets into whole ONC RPC messages: TCP byte streams are reassembled per direction and cut
// at the record marks (RFC 5531 §11; fragments of one record are joined), each UDP datagram is one message.
// Kept independent of the server's own record decoder on purpose: these messages become golden vectors for it.
import { XdrReader } from '../../protocol/xdr.js';
import type { Endpoint, Packet, TcpPacket } from './pcap.js';
import { endpointKey } from './pcap.js';

export interface RpcRecord {
  transport: 'tcp' | 'udp';
  src: Endpoint;
  dst: Endpoint;
  /** Frame holding the record's first byte (its first record mark, on TCP). */
  startFrame: number;
  /** Frame with which the record became complete. */
  endFrame: number;
  /** The RPC message without record marks. */
  bytes: Buffer;
  fragments: number;
}

export type RpcHeaderInfo =
  | { type: 'call'; xid: number; rpcvers: number; prog: number; vers: number; proc: number }
  | { type: 'reply'; xid: number };

/** The fixed start of an RPC message: enough to tell calls from replies and pair them. */
export function readRpcHeaderInfo(bytes: Buffer): RpcHeaderInfo {
  const r = new XdrReader(bytes);
  const xid = r.uint32();
  const type = r.uint32();
  if (type === 0) {
    return { type: 'call', xid, rpcvers: r.uint32(), prog: r.uint32(), vers: r.uint32(), proc: r.uint32() };
  }
  if (type === 1) return { type: 'reply', xid };
  throw new Error(`not an RPC message: msg_type ${type}`);
}

interface Segment {
  offset: number;
  payload: Buffer;
  frame: number;
}

interface Stream {
  src: Endpoint;
  dst: Endpoint;
  /** Sequence number of the first byte; unknown until a SYN or the first data segment. */
  base: number | undefined;
  segments: Segment[];
}

/** Splits every TCP stream of the capture into RPC records. Problems (gaps, cut records) are reported, not thrown. */
export function tcpRecords(packets: readonly Packet[]): { records: RpcRecord[]; problems: string[] } {
  const open = new Map<string, Stream>();
  const streams: Stream[] = [];
  for (const p of packets) {
    if (p.proto !== 'tcp') continue;
    const key = `${endpointKey(p.src)}>${endpointKey(p.dst)}`;
    let s = open.get(key);
    if (p.syn || !s) {
      // A SYN starts a new connection even on a 4-tuple seen before (the kernel client reuses its port).
      s = { src: p.src, dst: p.dst, base: p.syn ? (p.seq + 1) >>> 0 : undefined, segments: [] };
      open.set(key, s);
      streams.push(s);
    }
    addSegment(s, p);
  }
  const records: RpcRecord[] = [];
  const problems: string[] = [];
  for (const s of streams) splitStream(s, records, problems);
  return { records, problems };
}

function addSegment(s: Stream, p: TcpPacket): void {
  if (p.payload.length === 0) return;
  if (s.base === undefined) s.base = p.seq;
  s.segments.push({ offset: (p.seq - s.base) >>> 0, payload: p.payload, frame: p.frame });
}

function splitStream(s: Stream, out: RpcRecord[], problems: string[]): void {
  const name = `${endpointKey(s.src)} > ${endpointKey(s.dst)}`;
  // Assemble the byte stream; each chunk remembers the frame by which its bytes had all arrived.
  const sorted = [...s.segments].sort((a, b) => a.offset - b.offset || a.frame - b.frame);
  const chunks: Buffer[] = [];
  const chunkStart: number[] = [];
  const chunkFrame: number[] = [];
  let next = 0;
  let availableAt = 0;
  for (const seg of sorted) {
    const end = seg.offset + seg.payload.length;
    if (end <= next) continue; // retransmission of bytes already placed
    if (seg.offset > next) {
      problems.push(`${name}: ${seg.offset - next} bytes missing at offset ${next}; stream cut there`);
      break;
    }
    availableAt = Math.max(availableAt, seg.frame);
    chunkStart.push(next);
    chunkFrame.push(availableAt);
    chunks.push(seg.payload.subarray(next - seg.offset));
    next = end;
  }
  const data = Buffer.concat(chunks);
  const frameAt = (offset: number): number => {
    let lo = 0;
    let hi = chunkStart.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (chunkStart[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return chunkFrame[lo]!;
  };

  let pos = 0;
  while (pos < data.length) {
    const recordStart = pos;
    const pieces: Buffer[] = [];
    let complete = false;
    while (pos + 4 <= data.length) {
      const mark = data.readUInt32BE(pos);
      const length = mark & 0x7fffffff;
      if (pos + 4 + length > data.length) break;
      pieces.push(data.subarray(pos + 4, pos + 4 + length));
      pos += 4 + length;
      if (mark >>> 31 === 1) {
        complete = true;
        break;
      }
    }
    if (!complete) {
      problems.push(`${name}: stream ends inside a record at offset ${recordStart} (${data.length - recordStart} bytes left)`);
      return;
    }
    out.push({
      transport: 'tcp',
      src: s.src,
      dst: s.dst,
      startFrame: frameAt(recordStart),
      endFrame: frameAt(pos - 1),
      bytes: pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces),
      fragments: pieces.length,
    });
  }
}

/** Every UDP datagram that passes `accept` is one RPC message. */
export function udpRecords(packets: readonly Packet[], accept: (p: Packet) => boolean): RpcRecord[] {
  return packets
    .filter((p) => p.proto === 'udp' && accept(p))
    .map((p) => ({
      transport: 'udp' as const,
      src: p.src,
      dst: p.dst,
      startFrame: p.frame,
      endFrame: p.frame,
      bytes: p.payload,
      fragments: 1,
    }));
}
