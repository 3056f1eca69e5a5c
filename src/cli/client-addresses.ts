// Client address rules: `--allow-client CIDR` lists, and whether a listen address stays on this
// machine. Matching uses node's BlockList, which understands IPv4 and IPv6 prefixes.

import net from 'node:net';
import { LRUCache } from 'lru-cache';

export interface ClientRange {
  /** As the user wrote it, normalized to ADDRESS/BITS (e.g. "10.0.0.0/8", "::1/128"). */
  readonly text: string;
  readonly address: string;
  readonly bits: number;
  readonly family: 'ipv4' | 'ipv6';
}

export class ClientRangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClientRangeError';
  }
}

/** Parses `ADDRESS[/BITS]` (IPv4 or IPv6); a bare address is a single host. */
export function parseClientRange(text: string): ClientRange {
  const t = text.trim();
  const slash = t.indexOf('/');
  const address = (slash < 0 ? t : t.slice(0, slash)).replace(/^\[(.*)\]$/, '$1');
  const kind = net.isIP(address);
  if (kind === 0) throw new ClientRangeError(`"${text}" is not an IP address or CIDR range (e.g. 192.168.1.0/24)`);
  const family = kind === 4 ? 'ipv4' : 'ipv6';
  const max = kind === 4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const b = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b) || Number(b) > max) {
      throw new ClientRangeError(`"${text}": the prefix length must be a whole number from 0 to ${max}`);
    }
    bits = Number(b);
  }
  return { text: `${address}/${bits}`, address, bits, family };
}

/** Splits a comma-separated list (repeated flags are joined with commas) into ranges. */
export function parseClientRanges(list: string): ClientRange[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(parseClientRange);
}

/** True when the range admits every address of its family (0.0.0.0/0 or ::/0). */
export function isEveryone(r: ClientRange): boolean {
  return r.bits === 0;
}

/** Whether a listen address keeps the server on this machine. */
export function isLoopbackListen(host: string): boolean {
  if (host === 'localhost') return true;
  const a = host.replace(/^\[(.*)\]$/, '$1');
  if (net.isIPv4(a)) return a.startsWith('127.');
  if (net.isIPv6(a)) return a === '::1' || /^::ffff:127\./i.test(a);
  return false;
}

/** Whether a client's address is this machine's loopback (always admitted). */
export function isLoopbackClient(address: string): boolean {
  return isLoopbackListen(address);
}

/**
 * Answers whether a client address is in any of the ranges. Every call is checked and BlockList
 * builds an address object per check, so the answer is remembered per address.
 */
export class ClientAllowList {
  private readonly list = new net.BlockList();
  private readonly answers = new LRUCache<string, boolean>({ max: 1024 });

  constructor(readonly ranges: readonly ClientRange[]) {
    for (const r of ranges) this.list.addSubnet(r.address, r.bits, r.family);
  }

  allows(address: string): boolean {
    let answer = this.answers.get(address);
    if (answer === undefined) {
      answer = this.check(address);
      this.answers.set(address, answer);
    }
    return answer;
  }

  private check(address: string): boolean {
    if (isLoopbackClient(address)) return true;
    const kind = net.isIP(address);
    if (kind === 0) return false;
    // IPv4-mapped IPv6 (::ffff:a.b.c.d) is checked as IPv4 as well.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped && this.list.check(mapped[1]!, 'ipv4')) return true;
    return this.list.check(address, kind === 4 ? 'ipv4' : 'ipv6');
  }
}
