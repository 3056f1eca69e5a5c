// pcap → golden RPC vectors, one JSON-lines file per scenario.
//
//   node dist/scripts/capture/golden.js --pcap FILE --out DIR --prefix CLIENT
//        [--before NAME] [--after NAME] [--max-large 3] [--large-bytes 16384]
//
// The guest marks scenarios with UDP datagrams to port 7 ("s3nfs-mark begin NAME", "s3nfs-mark end NAME",
// see guest-lib.sh). A call belongs to the scenario whose markers enclose the frame that carried its first
// byte; its reply goes with it. Calls before the first marker form scenario --before (e.g. "mount"), calls
// after the last one --after (e.g. "umount"); without those names they are left out. Files are named
// PREFIX-SCENARIO.jsonl, or CLIENT-NAME.jsonl for a scenario called "CLIENT:NAME".
// Each line: {"dir":"call"|"reply","prog","vers","proc","xid","hex"}; a reply carries its call's
// prog/vers/proc. Lines are in the order the messages completed on the wire. Per scenario and procedure only
// the first --max-large call/reply pairs in which either message exceeds --large-bytes are kept (big WRITEs
// and READs); all other pairs are kept whole. Scenarios whose name starts with "_" (setup steps) are left out.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readPcap } from './pcap.js';
import type { Packet } from './pcap.js';
import { endpointKey } from './pcap.js';
import { readRpcHeaderInfo, tcpRecords, udpRecords } from './rpc-stream.js';
import type { RpcRecord } from './rpc-stream.js';
import { procedureName } from './procedure-names.js';

const MARK_PORT = 7;
const MARK_PREFIX = 's3nfs-mark ';

interface Window {
  name: string;
  begin: number;
  end: number;
}

interface Message {
  record: RpcRecord;
  dir: 'call' | 'reply';
  xid: number;
  prog: number;
  vers: number;
  proc: number;
  /** The call of a reply, or the reply of a call, once paired. */
  peer?: Message;
}

export interface GoldenLine {
  dir: 'call' | 'reply';
  prog: number;
  vers: number;
  proc: number;
  xid: number;
  hex: string;
}

function isMarker(p: Packet): boolean {
  return p.proto === 'udp' && p.dst.port === MARK_PORT && p.payload.toString('latin1').startsWith(MARK_PREFIX);
}

function scenarioWindows(packets: readonly Packet[]): { windows: Window[]; first: number; last: number } {
  const windows: Window[] = [];
  const open = new Map<string, number>();
  let first = Infinity;
  let last = -Infinity;
  for (const p of packets) {
    if (!isMarker(p)) continue;
    const [what, name] = p.payload.toString('utf8').slice(MARK_PREFIX.length).trim().split(/\s+/);
    if (!name || (what !== 'begin' && what !== 'end')) throw new Error(`frame ${p.frame}: bad marker`);
    first = Math.min(first, p.frame);
    last = Math.max(last, p.frame);
    if (what === 'begin') open.set(name, p.frame);
    else {
      const begin = open.get(name);
      if (begin === undefined) throw new Error(`frame ${p.frame}: end of ${name} without begin`);
      open.delete(name);
      windows.push({ name, begin, end: p.frame });
    }
  }
  if (open.size > 0) throw new Error(`scenarios never ended: ${[...open.keys()].join(', ')}`);
  return { windows, first, last };
}

/** The call's connection as seen from the client; replies look it up with their addresses swapped. */
function connectionKey(transport: string, client: RpcRecord['src'], server: RpcRecord['dst']): string {
  return `${transport} ${endpointKey(client)} ${endpointKey(server)}`;
}

function toMessages(records: RpcRecord[], problems: string[]): Message[] {
  const ordered = [...records].sort((a, b) => a.endFrame - b.endFrame || a.startFrame - b.startFrame);
  const pending = new Map<string, Message[]>();
  const messages: Message[] = [];
  for (const record of ordered) {
    let info;
    try {
      info = readRpcHeaderInfo(record.bytes);
    } catch (err) {
      problems.push(`frame ${record.startFrame}: ${(err as Error).message}`);
      continue;
    }
    if (info.type === 'call') {
      const m: Message = { record, dir: 'call', xid: info.xid, prog: info.prog, vers: info.vers, proc: info.proc };
      const key = `${connectionKey(record.transport, record.src, record.dst)} ${info.xid}`;
      pending.set(key, [...(pending.get(key) ?? []), m]);
      messages.push(m);
    } else {
      const key = `${connectionKey(record.transport, record.dst, record.src)} ${info.xid}`;
      const call = pending.get(key)?.shift();
      if (!call) {
        problems.push(`frame ${record.startFrame}: reply xid ${info.xid} without a captured call`);
        continue;
      }
      const m: Message = { record, dir: 'reply', xid: info.xid, prog: call.prog, vers: call.vers, proc: call.proc, peer: call };
      call.peer = m;
      messages.push(m);
    }
  }
  return messages;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      pcap: { type: 'string' },
      out: { type: 'string' },
      prefix: { type: 'string' },
      before: { type: 'string' },
      after: { type: 'string' },
      'max-large': { type: 'string', default: '3' },
      'large-bytes': { type: 'string', default: '16384' },
    },
  });
  if (!values.pcap || !values.out || !values.prefix) {
    process.stderr.write('usage: golden.js --pcap FILE --out DIR --prefix CLIENT [--before NAME] [--after NAME]\n');
    process.exit(2);
  }
  const maxLarge = Number(values['max-large']);
  const largeBytes = Number(values['large-bytes']);

  const packets = readPcap(readFileSync(values.pcap));
  const { windows, first, last } = scenarioWindows(packets);
  const problems: string[] = [];
  const tcp = tcpRecords(packets);
  problems.push(...tcp.problems);
  const records = [...tcp.records, ...udpRecords(packets, (p) => p.src.port !== MARK_PORT && p.dst.port !== MARK_PORT)];
  const messages = toMessages(records, problems);

  const scenarioOf = (call: Message): string | undefined => {
    const f = call.record.startFrame;
    if (f < first || windows.length === 0) return values.before;
    if (f > last) return values.after;
    return windows.find((w) => w.begin < f && f < w.end)?.name;
  };

  const byScenario = new Map<string, Message[]>();
  let unassigned = 0;
  for (const m of messages) {
    const call = m.dir === 'call' ? m : m.peer!;
    if (m.dir === 'call' && !m.peer) problems.push(`frame ${m.record.startFrame}: call xid ${m.xid} got no reply`);
    const scenario = scenarioOf(call);
    if (scenario === undefined || scenario.startsWith('_')) {
      if (m.dir === 'call') unassigned++;
      continue;
    }
    byScenario.set(scenario, [...(byScenario.get(scenario) ?? []), m]);
  }
  if (unassigned > 0) process.stderr.write(`golden: ${unassigned} calls outside any scenario left out\n`);

  mkdirSync(values.out, { recursive: true });
  for (const [scenario, list] of byScenario) {
    // Per procedure, keep the first maxLarge large pairs.
    const largeSeen = new Map<string, number>();
    const dropped = new Set<Message>();
    let droppedPairs = 0;
    for (const m of list) {
      if (m.dir !== 'call') continue;
      const size = Math.max(m.record.bytes.length, m.peer?.record.bytes.length ?? 0);
      if (size <= largeBytes) continue;
      const key = `${m.prog}/${m.vers}/${m.proc}`;
      const n = (largeSeen.get(key) ?? 0) + 1;
      largeSeen.set(key, n);
      if (n > maxLarge) {
        droppedPairs++;
        dropped.add(m);
        if (m.peer) dropped.add(m.peer);
      }
    }
    const kept = list.filter((m) => !dropped.has(m));
    const lines: GoldenLine[] = kept.map((m) => ({
      dir: m.dir,
      prog: m.prog,
      vers: m.vers,
      proc: m.proc,
      xid: m.xid,
      hex: m.record.bytes.toString('hex'),
    }));
    // "CLIENT:NAME" names a scenario run with another client than the capture's main one.
    const [client, name] = scenario.includes(':') ? scenario.split(':', 2) : [values.prefix, scenario];
    const file = path.join(values.out, `${client}-${name}.jsonl`);
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const counts = new Map<string, number>();
    for (const m of kept) {
      if (m.dir !== 'call') continue;
      const name = procedureName(m.prog, m.vers, m.proc);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    const summary = [...counts].map(([k, v]) => `${k}×${v}`).join(', ');
    const note = droppedPairs > 0 ? `; left out ${droppedPairs} large call/reply pairs` : '';
    process.stdout.write(`${path.basename(file)}: ${kept.length} messages (${summary})${note}\n`);
  }
  for (const p of problems) process.stderr.write(`golden: problem: ${p}\n`);
  if (problems.length > 0) process.exit(1);
}

main();
