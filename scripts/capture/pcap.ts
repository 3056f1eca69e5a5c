// Reads a classic pcap file (as tcpdump -w writes it) into IPv4 TCP and UDP packets. Only what the capture
// tooling needs: Ethernet or Linux "cooked" link layers, IPv4 without fragments, TCP and UDP payloads.

export interface Endpoint {
  addr: string;
  port: number;
}

interface PacketBase {
  /** 1-based position in the file, as tshark numbers frames. */
  frame: number;
  /** Capture time in seconds since the epoch. */
  time: number;
  src: Endpoint;
  dst: Endpoint;
  payload: Buffer;
}

export interface TcpPacket extends PacketBase {
  proto: 'tcp';
  seq: number;
  syn: boolean;
  fin: boolean;
  rst: boolean;
}

export interface UdpPacket extends PacketBase {
  proto: 'udp';
}

export type Packet = TcpPacket | UdpPacket;

export class PcapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PcapError';
  }
}

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_LINUX_SLL = 113;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_VLAN = 0x8100;

/** All IPv4 TCP/UDP packets of a pcap file, in file order. Other packets are skipped. */
export function readPcap(file: Buffer): Packet[] {
  if (file.length < 24) throw new PcapError('not a pcap file: too short');
  const magic = file.readUInt32LE(0);
  let little: boolean;
  let nanos: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) {
    little = true;
    nanos = magic === 0xa1b23c4d;
  } else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) {
    little = false;
    nanos = magic === 0x4d3cb2a1;
  } else {
    throw new PcapError(`not a pcap file (magic ${magic.toString(16)}; pcapng is not supported)`);
  }
  const u32 = (at: number) => (little ? file.readUInt32LE(at) : file.readUInt32BE(at));
  const linkType = u32(20) & 0xffff;
  if (linkType !== LINKTYPE_ETHERNET && linkType !== LINKTYPE_LINUX_SLL) {
    throw new PcapError(`unsupported link type ${linkType}`);
  }

  const packets: Packet[] = [];
  let at = 24;
  let frame = 0;
  while (at + 16 <= file.length) {
    frame++;
    const time = u32(at) + u32(at + 4) / (nanos ? 1e9 : 1e6);
    const inclLen = u32(at + 8);
    const origLen = u32(at + 12);
    const data = file.subarray(at + 16, at + 16 + inclLen);
    at += 16 + inclLen;
    if (data.length < inclLen) throw new PcapError(`frame ${frame} is cut off at the end of the file`);
    if (inclLen < origLen) throw new PcapError(`frame ${frame} was truncated by the snap length (use -s 0)`);
    const packet = decodeFrame(data, linkType, frame, time);
    if (packet) packets.push(packet);
  }
  return packets;
}

function decodeFrame(data: Buffer, linkType: number, frame: number, time: number): Packet | undefined {
  let ip: number;
  let etherType: number;
  if (linkType === LINKTYPE_ETHERNET) {
    etherType = data.readUInt16BE(12);
    ip = 14;
    if (etherType === ETHERTYPE_VLAN) {
      etherType = data.readUInt16BE(16);
      ip = 18;
    }
  } else {
    etherType = data.readUInt16BE(14);
    ip = 16;
  }
  if (etherType !== ETHERTYPE_IPV4) return undefined;
  if ((data[ip]! >> 4) !== 4) return undefined;
  const ihl = (data[ip]! & 0x0f) * 4;
  const totalLen = data.readUInt16BE(ip + 2);
  const fragment = data.readUInt16BE(ip + 6);
  const proto = data[ip + 9];
  const srcAddr = Array.from(data.subarray(ip + 12, ip + 16)).join('.');
  const dstAddr = Array.from(data.subarray(ip + 16, ip + 20)).join('.');
  // With TSO/GRO on the tap, an IP packet can exceed 64 KiB and carry total length 0; then the frame's
  // own length is the truth.
  const ipEnd = totalLen === 0 ? data.length : ip + totalLen;
  if ((fragment & 0x3fff) !== 0) {
    throw new PcapError(`frame ${frame}: IP fragments are not supported`);
  }
  const l4 = ip + ihl;
  if (proto === 6) {
    const dataOffset = (data[l4 + 12]! >> 4) * 4;
    const flags = data[l4 + 13]!;
    return {
      proto: 'tcp',
      frame,
      time,
      src: { addr: srcAddr, port: data.readUInt16BE(l4) },
      dst: { addr: dstAddr, port: data.readUInt16BE(l4 + 2) },
      seq: data.readUInt32BE(l4 + 4),
      syn: (flags & 0x02) !== 0,
      fin: (flags & 0x01) !== 0,
      rst: (flags & 0x04) !== 0,
      payload: data.subarray(l4 + dataOffset, ipEnd),
    };
  }
  if (proto === 17) {
    return {
      proto: 'udp',
      frame,
      time,
      src: { addr: srcAddr, port: data.readUInt16BE(l4) },
      dst: { addr: dstAddr, port: data.readUInt16BE(l4 + 2) },
      payload: data.subarray(l4 + 8, l4 + data.readUInt16BE(l4 + 4)),
    };
  }
  return undefined;
}

export function endpointKey(e: Endpoint): string {
  return `${e.addr}:${e.port}`;
}
