// Runs an NFS server command for an e2e test and lets the guest script control it: kill -9 it, start it again
// (same command, optionally more arguments), stop it, and exchange named marks with the host-side test.
// It runs as the UML harness's server command, inside the test's network namespace:
//
//   node dist/test/e2e/support/server-supervisor.js --control ADDR:PORT --dir DIR
//        [--proxy ADDR:PORT --upstream PORT] -- CMD ARG...
//
// With --proxy, clients connect to the supervisor, which relays each RPC record to the server at
// 127.0.0.1:UPSTREAM. That lets it kill the server at an exact point of the conversation (`arm-kill COMMIT`:
// when the next NFS COMMIT call arrives, before the server sees it) and hide the restart from the client's
// reconnect backoff: a connection accepted while the server is down waits until it is back.
//
// Control protocol: one TCP connection per command, one line in, one line out ("ok ..." or "err ...").
//   kill9            SIGKILL the server, wait until it is gone
//   start [ARG...]   start the command again (ARGs appended), wait until it prints its listening line
//   stop             SIGTERM, wait for exit
//   mark NAME        record that the guest reached NAME (the host test waits for DIR/marks/NAME)
//   wait NAME [S]    block until the host test creates DIR/release/NAME (at most S seconds, default 600)
//   arm-kill COMMIT  (--proxy) kill -9 the server when the next NFS COMMIT call arrives; the call is dropped
//   wait-killed [S]  block until the server has been killed at least once and is not running
// Every server start, exit and kill is appended to DIR/events.jsonl with the wall-clock time, so the test can
// relate what it saw in S3 to the server's lifetime. UML's clock is the host's, so guest times compare too.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RecordDecoder, frameRecord } from '../../../protocol/record.js';

/** What DIR/events.jsonl holds, one JSON object per line. */
export interface SupervisorEvent {
  event: 'started' | 'listening' | 'exited' | 'killed' | 'mark' | 'armed';
  at: number;
  pid?: number;
  code?: number | null;
  signal?: string | null;
  name?: string;
  /** For 'killed': what triggered it ('ctl' or the procedure that was armed). */
  reason?: string;
  /** For 'killed' with --proxy: NFS WRITE calls relayed to the server since it last started. */
  writesRelayed?: number;
}

/** The prefix the server prints on stdout once it accepts connections. */
const LISTENING_LINE = 's3nfs: listening on';
const START_TIMEOUT_MS = 60_000;

interface Options {
  controlHost: string;
  controlPort: number;
  dir: string;
  proxy?: { host: string; port: number; upstreamPort: number };
  command: string;
  args: string[];
}

const NFS_PROGRAM = 100003;
const NFS_WRITE = 7;
const NFS_COMMIT = 21;

/** Whether an RPC record is a call of NFS procedure `proc` (header: xid, CALL = 0, rpcvers, prog, vers, proc). */
function isNfsCall(record: Buffer, proc: number): boolean {
  return record.length >= 24 && record.readUInt32BE(4) === 0 && record.readUInt32BE(12) === NFS_PROGRAM && record.readUInt32BE(20) === proc;
}

function parseArgs(argv: string[]): Options {
  const sep = argv.indexOf('--');
  if (sep < 0 || sep === argv.length - 1) throw new Error('usage: server-supervisor --control ADDR:PORT --dir DIR -- CMD ARG...');
  const own = argv.slice(0, sep);
  const flag = (name: string): string => {
    const i = own.indexOf(name);
    const v = i >= 0 ? own[i + 1] : undefined;
    if (v === undefined) throw new Error(`server-supervisor: ${name} is required`);
    return v;
  };
  const hostPort = (name: string): { host: string; port: number } => {
    const v = flag(name);
    const m = /^(.*):(\d+)$/.exec(v);
    if (!m) throw new Error(`server-supervisor: ${name} ${v} is not ADDR:PORT`);
    return { host: m[1]!, port: Number(m[2]) };
  };
  const control = hostPort('--control');
  const proxy = own.includes('--proxy') ? { ...hostPort('--proxy'), upstreamPort: Number(flag('--upstream')) } : undefined;
  return {
    controlHost: control.host,
    controlPort: control.port,
    dir: flag('--dir'),
    ...(proxy ? { proxy } : {}),
    command: argv[sep + 1]!,
    args: argv.slice(sep + 2),
  };
}

class Supervisor {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private listening = false;
  private shuttingDown = false;
  lastExitCode: number | null = 0;
  /** Kills so far (ctl kill9 or an armed call). */
  kills = 0;
  proxy: RecordProxy | undefined;
  /** Procedure number whose next call kills the server (--proxy only). */
  armedProcedure: number | undefined;

  constructor(private readonly opts: Options) {
    mkdirSync(path.join(opts.dir, 'marks'), { recursive: true });
    mkdirSync(path.join(opts.dir, 'release'), { recursive: true });
  }

  record(e: Omit<SupervisorEvent, 'at'>): void {
    const line: SupervisorEvent = { ...e, at: Date.now() };
    appendFileSync(path.join(this.opts.dir, 'events.jsonl'), `${JSON.stringify(line)}\n`);
    process.stderr.write(`supervisor: ${JSON.stringify(line)}\n`);
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Starts the server; resolves once it prints its listening line (or rejects when it exits first). */
  start(extra: string[]): Promise<number> {
    if (this.child) return Promise.reject(new Error(`already running (pid ${this.child.pid})`));
    const child = spawn(this.opts.command, [...this.opts.args, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    this.listening = false;
    const pid = child.pid ?? -1;
    this.record({ event: 'started', pid });
    if (this.proxy) this.proxy.writesRelayed = 0;
    let resolveListening!: () => void;
    let rejectListening!: (e: Error) => void;
    const listening = new Promise<void>((res, rej) => {
      resolveListening = res;
      rejectListening = rej;
    });
    let pending = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      if (this.listening) return;
      pending += chunk.toString();
      if (pending.includes(LISTENING_LINE)) {
        this.listening = true;
        this.record({ event: 'listening', pid });
        resolveListening();
      }
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.record({ event: 'exited', pid, code, signal });
        this.lastExitCode = code ?? (signal === 'SIGKILL' ? 137 : 143);
        if (this.child === child) this.child = null;
        rejectListening(new Error(`server exited (code ${code}, signal ${signal}) before listening`));
        resolve();
        if (this.shuttingDown) process.exit(this.lastExitCode);
      });
    });
    const timer = setTimeout(() => rejectListening(new Error('server did not listen in time')), START_TIMEOUT_MS);
    return listening.then(
      () => {
        clearTimeout(timer);
        return pid;
      },
      (err: unknown) => {
        clearTimeout(timer);
        throw err;
      },
    );
  }

  async kill9(reason = 'ctl'): Promise<number> {
    const child = this.child;
    if (!child) throw new Error('not running');
    const pid = child.pid ?? -1;
    this.record({ event: 'killed', pid, reason, ...(this.proxy ? { writesRelayed: this.proxy.writesRelayed } : {}) });
    child.kill('SIGKILL');
    this.kills++;
    await this.exited;
    // What was in flight on the dead server's connections is lost, as in a real crash.
    this.proxy?.dropConnections();
    return pid;
  }

  async stop(): Promise<number | null> {
    const child = this.child;
    if (!child) throw new Error('not running');
    child.kill('SIGTERM');
    await this.exited;
    return this.lastExitCode;
  }

  /**
   * The harness ends the run with SIGTERM to the whole process group, so the server (same group) has it
   * already: wait for its exit. Forwarding it would be a second signal, which makes s3nfs skip its shutdown.
   */
  shutdown(): void {
    this.shuttingDown = true;
    if (!this.child) process.exit(this.lastExitCode ?? 0);
  }

  mark(name: string): void {
    writeFileSync(path.join(this.opts.dir, 'marks', name), String(Date.now()));
    this.record({ event: 'mark', name });
  }

  async waitRelease(name: string, timeoutMs: number): Promise<boolean> {
    const file = path.join(this.opts.dir, 'release', name);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        await access(file);
        return true;
      } catch {
        await sleep(100);
      }
    }
    return false;
  }

  async handle(line: string): Promise<string> {
    const [cmd, ...rest] = line.trim().split(/\s+/);
    const safeName = (n: string | undefined): string => {
      if (!n || !/^[\w.-]+$/.test(n)) throw new Error(`bad name ${JSON.stringify(n)}`);
      return n;
    };
    const seconds = (v: string | undefined): number => {
      const n = v === undefined ? 600 : Number(v);
      if (!Number.isFinite(n) || n < 0) throw new Error(`bad seconds ${JSON.stringify(v)}`);
      return n;
    };
    switch (cmd) {
      case 'kill9':
        return `ok killed pid=${await this.kill9()}`;
      case 'start':
        return `ok started pid=${await this.start(rest)}`;
      case 'stop':
        return `ok exit=${await this.stop()}`;
      case 'arm-kill': {
        if (!this.proxy) throw new Error('arm-kill needs --proxy');
        if (rest[0] !== 'COMMIT') throw new Error(`can only arm COMMIT, not ${rest[0]}`);
        this.armedProcedure = NFS_COMMIT;
        this.record({ event: 'armed', name: rest[0] });
        return 'ok';
      }
      case 'wait-killed': {
        const deadline = Date.now() + seconds(rest[0]) * 1000;
        while (this.kills === 0 || this.running) {
          if (Date.now() > deadline) return 'err timeout';
          await sleep(50);
        }
        return 'ok';
      }
      case 'status':
        return `ok ${this.running ? 'running' : 'stopped'}`;
      case 'mark':
        this.mark(safeName(rest[0]));
        return 'ok';
      case 'wait': {
        return (await this.waitRelease(safeName(rest[0]), seconds(rest[1]) * 1000)) ? 'ok' : 'err timeout';
      }
      default:
        throw new Error(`unknown command ${JSON.stringify(cmd)}`);
    }
  }
}

/**
 * Relays RPC records between clients and the server on 127.0.0.1:upstreamPort. Client-to-server traffic is
 * split into records so a call can be recognized (and dropped, when it is the armed one); server-to-client
 * bytes are passed through.
 */
class RecordProxy {
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket | null }>();
  writesRelayed = 0;

  constructor(
    private readonly upstreamPort: number,
    private readonly sup: Supervisor,
  ) {}

  accept(client: net.Socket): void {
    const pair: { client: net.Socket; upstream: net.Socket | null } = { client, upstream: null };
    this.pairs.add(pair);
    const decoder = new RecordDecoder({ maxRecordSize: 64 * 1024 * 1024 });
    const waiting: Buffer[] = [];
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      this.pairs.delete(pair);
      client.destroy();
      pair.upstream?.destroy();
    };
    client.on('error', close);
    client.on('close', close);
    client.on('data', (chunk: Buffer) => {
      const { records, error } = decoder.push(chunk);
      if (error) return close();
      for (const record of records) {
        if (this.isArmedCall(record)) {
          this.sup.armedProcedure = undefined;
          void this.sup.kill9('COMMIT').catch(() => undefined);
          return;
        }
        if (isNfsCall(record, NFS_WRITE)) this.writesRelayed++;
        const framed = Buffer.concat(frameRecord([record]));
        if (pair.upstream) pair.upstream.write(framed);
        else waiting.push(framed);
      }
    });
    // The server may be down (killed, not restarted yet): keep trying, the client just sees a slow server.
    const connect = () => {
      if (closed) return;
      const upstream = net.connect({ host: '127.0.0.1', port: this.upstreamPort });
      upstream.once('connect', () => {
        if (closed) return upstream.destroy();
        pair.upstream = upstream;
        for (const b of waiting.splice(0)) upstream.write(b);
        upstream.on('data', (d: Buffer) => client.write(d));
        upstream.on('close', close);
      });
      upstream.on('error', () => {
        upstream.destroy();
        if (pair.upstream === null) setTimeout(connect, 100);
        else close();
      });
    };
    connect();
  }

  private isArmedCall(record: Buffer): boolean {
    const armed = this.sup.armedProcedure;
    return armed !== undefined && isNfsCall(record, armed);
  }

  dropConnections(): void {
    for (const p of [...this.pairs]) {
      p.client.destroy();
      p.upstream?.destroy();
      this.pairs.delete(p);
    }
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const sup = new Supervisor(opts);
  process.on('SIGTERM', () => sup.shutdown());
  process.on('SIGINT', () => sup.shutdown());

  const control = net.createServer((socket) => {
    let buf = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = '';
      sup.handle(line).then(
        (reply) => socket.end(`${reply}\n`),
        (err: unknown) => socket.end(`err ${err instanceof Error ? err.message : String(err)}\n`.replace(/\n(?!$)/g, ' ')),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    control.once('error', reject);
    control.listen(opts.controlPort, opts.controlHost, () => resolve());
  });
  process.stderr.write(`supervisor: control on ${opts.controlHost}:${opts.controlPort}\n`);
  if (opts.proxy) {
    const proxy = new RecordProxy(opts.proxy.upstreamPort, sup);
    sup.proxy = proxy;
    const listener = net.createServer((socket) => proxy.accept(socket));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(opts.proxy!.port, opts.proxy!.host, () => resolve());
    });
    process.stderr.write(`supervisor: relaying ${opts.proxy.host}:${opts.proxy.port} to 127.0.0.1:${opts.proxy.upstreamPort}\n`);
  }
  await sup.start([]);
}

main().catch((err: unknown) => {
  process.stderr.write(`supervisor: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
