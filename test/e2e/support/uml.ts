// Drives scripts/uml/run.sh from tests: one call boots a User-Mode Linux guest (a real Linux NFS client)
// against a server started for the call, runs a shell script in the guest and hands back what happened.
// Everything the run creates (network namespace, server, guest) is gone when the promise settles.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this file compiles to dist/test/e2e/support/uml.js. */
export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const runScript = path.join(repoRoot, 'scripts/uml/run.sh');

export interface MountSpec {
  /** Path the client mounts, e.g. "/export" or "/bucket". */
  export: string;
  /** `mount -o` options, e.g. "vers=3,proto=tcp,port=20490,mountport=20491,mountproto=tcp,nolock". */
  options: string;
}

export interface GuestRunOptions {
  /**
   * Shell command (bash -c) that starts the server in the foreground inside the test's network namespace,
   * with the repository root as working directory. It gets UML_HOST_ADDR (the address the guest reaches it
   * at), UML_GUEST_ADDR, UML_NETNS and UML_RUN_DIR besides serverEnv and this process's environment.
   */
  serverCommand: string;
  serverEnv?: Record<string, string>;
  /** Port to wait for before booting; defaults to port= of the mount options, else 2049. */
  serverPort?: number;
  /** null: do not mount; the script does it itself (UML_HOST_ADDR and NFS_MOUNT are set). */
  mount: MountSpec | null;
  /**
   * Script text run in the guest from the mount point ($NFS_MOUNT). bash unless it starts with #!.
   * The guest sees the host's file system read-only, except /tmp (a guest tmpfs: host files under /tmp are
   * not visible) and $UML_FILES (a directory whose files come back in GuestRunResult.files).
   */
  guestScript: string;
  guestEnv?: Record<string, string>;
  /** Guest RAM, e.g. "512M" (the default). */
  guestMem?: string;
  /** Budget for boot + mount + script. Default 120 s. */
  timeoutMs?: number;
  /** Time the server gets between SIGTERM and SIGKILL at the end. Default 10 s. */
  serverStopTimeoutMs?: number;
  /**
   * An S3 endpoint on the host's loopback (http://127.0.0.1:PORT). The server, inside the namespace, reaches
   * it at the very same URL (a relay carries 127.0.0.1:PORT of the namespace to the host).
   */
  s3Endpoint?: string;
  /** More host loopback ports to make reachable from the namespace the same way. */
  forwardPorts?: number[];
  /** Write a pcap of the guest's network traffic here. */
  capture?: { file: string; filter?: string };
  /** Keep all artifacts (logs, status, files) in this directory instead of deleting them. */
  keepResultsIn?: string;
  /** Extra UML kernel command-line arguments. */
  kernelArgs?: string;
}

export type GuestOutcome =
  | 'ok' // the script ran; exitCode is its exit status
  | 'timeout'
  | 'server-failed' // the server exited or did not listen in time
  | 'mount-failed'
  | 'guest-crashed' // the guest stopped without reporting
  | 'setup-failed'; // the harness itself could not start (see harnessLog)

export interface GuestRunResult {
  outcome: GuestOutcome;
  /** The guest script's exit status; null when it did not finish. */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** stdout followed by stderr. */
  output: string;
  serverLog: string;
  /** The guest's console: kernel messages and the init script's progress. */
  guestLog: string;
  /** mount.nfs's error output, if any. */
  mountError: string;
  mountExit: number | null;
  umountExit: number | null;
  /** The server's exit status after SIGTERM (null if it never started). */
  serverExit: number | null;
  hostAddr: string;
  guestAddr: string;
  /** Files the guest script left in $UML_FILES (top level only). */
  files: Map<string, Buffer>;
  timingsMs: GuestTimings;
  /** What run.sh printed itself (errors of the harness). */
  harnessLog: string;
}

export interface GuestTimings {
  serverStart: number | null;
  bootToMount: number | null;
  bootToScript: number | null;
  script: number | null;
  guest: number | null;
  total: number | null;
}

/** Why the harness cannot run here, or null when it can. Tests skip with this message. */
export function umlUnavailableReason(): string | null {
  if (process.platform !== 'linux') return 'User-Mode Linux needs a Linux host';
  if (process.getuid?.() !== 0) return 'the UML harness needs root (network namespaces, tap devices)';
  for (const tool of ['linux.uml', 'ip', 'timeout']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  return null;
}

export async function runInGuest(opts: GuestRunOptions): Promise<GuestRunResult> {
  const resultsDir = opts.keepResultsIn ?? (await mkdtemp(path.join(tmpdir(), 's3nfs-guest-')));
  const scriptFile = path.join(resultsDir, 'guest-script.src');
  await writeFile(scriptFile, opts.guestScript);
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const args = [
    runScript,
    '--quiet',
    '--results', resultsDir,
    '--server', opts.serverCommand,
    '--guest-script', scriptFile,
    '--timeout', String(Math.ceil(timeoutMs / 1000)),
  ];
  if (opts.serverPort !== undefined) args.push('--server-port', String(opts.serverPort));
  if (opts.serverStopTimeoutMs !== undefined) {
    args.push('--server-stop-timeout', String(Math.ceil(opts.serverStopTimeoutMs / 1000)));
  }
  if (opts.mount === null) args.push('--no-mount');
  else args.push('--export', opts.mount.export, '--mount-options', opts.mount.options);
  for (const [k, v] of Object.entries(opts.guestEnv ?? {})) args.push('--guest-env', `${k}=${v}`);
  if (opts.guestMem !== undefined) args.push('--guest-mem', opts.guestMem);
  if (opts.s3Endpoint !== undefined) args.push('--s3-endpoint', opts.s3Endpoint);
  for (const p of opts.forwardPorts ?? []) args.push('--forward-port', String(p));
  if (opts.capture) {
    args.push('--capture', opts.capture.file);
    if (opts.capture.filter !== undefined) args.push('--capture-filter', opts.capture.filter);
  }
  if (opts.kernelArgs !== undefined) args.push('--kernel-args', opts.kernelArgs);

  // run.sh enforces the budget itself; this outer limit only catches a wedged harness.
  const harnessLimitMs = timeoutMs + 90_000 + (opts.serverStopTimeoutMs ?? 10_000);
  const harnessLog = await runHarness(args, { ...process.env, ...opts.serverEnv }, harnessLimitMs);
  try {
    return await collect(resultsDir, harnessLog);
  } finally {
    if (opts.keepResultsIn === undefined) await rm(resultsDir, { recursive: true, force: true });
  }
}

/** Quotes one word for a bash command line (serverCommand is run with bash -c). */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A short account of a run for assertion messages. */
export function describeRun(r: GuestRunResult): string {
  const tail = (s: string, n: number) => s.trimEnd().split('\n').slice(-n).join('\n');
  return [
    `outcome=${r.outcome} exitCode=${r.exitCode} mountExit=${r.mountExit} serverExit=${r.serverExit}`,
    r.mountError && `--- mount error\n${r.mountError.trim()}`,
    r.stdout && `--- guest stdout (tail)\n${tail(r.stdout, 20)}`,
    r.stderr && `--- guest stderr (tail)\n${tail(r.stderr, 20)}`,
    r.serverLog && `--- server log (tail)\n${tail(r.serverLog, 20)}`,
    r.outcome !== 'ok' && r.guestLog && `--- guest console (tail)\n${tail(r.guestLog, 15)}`,
    r.harnessLog && `--- harness\n${tail(r.harnessLog, 10)}`,
  ]
    .filter(Boolean)
    .join('\n');
}

function runHarness(args: string[], env: NodeJS.ProcessEnv, limitMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    // SIGTERM lets run.sh tear down what it started.
    const timer = setTimeout(() => child.kill('SIGTERM'), limitMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', () => {
      clearTimeout(timer);
      resolve(log);
    });
  });
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return '';
  }
}

async function collect(dir: string, harnessLog: string): Promise<GuestRunResult> {
  const summary = parseSummary(await readText(path.join(dir, 'result.json')));
  const stdout = await readText(path.join(dir, 'out/stdout'));
  const stderr = await readText(path.join(dir, 'out/stderr'));
  const files = new Map<string, Buffer>();
  const filesDir = path.join(dir, 'files');
  for (const entry of await readdir(filesDir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isFile()) files.set(entry.name, await readFile(path.join(filesDir, entry.name)));
  }
  return {
    ...summary,
    stdout,
    stderr,
    output: stdout + stderr,
    serverLog: await readText(path.join(dir, 'server.log')),
    guestLog: await readText(path.join(dir, 'guest.log')),
    mountError: await readText(path.join(dir, 'out/mount.err')),
    files,
    harnessLog,
  };
}

type Summary = Pick<
  GuestRunResult,
  'outcome' | 'exitCode' | 'mountExit' | 'umountExit' | 'serverExit' | 'hostAddr' | 'guestAddr' | 'timingsMs'
>;

const outcomes: readonly GuestOutcome[] = ['ok', 'timeout', 'server-failed', 'mount-failed', 'guest-crashed'];

/** result.json as written by run.sh; missing or unreadable means the harness failed before the guest. */
function parseSummary(text: string): Summary {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined;
  }
  const obj = isRecord(raw) ? raw : {};
  const timings = isRecord(obj['timingsMs']) ? obj['timingsMs'] : {};
  const outcome = outcomes.find((o) => o === obj['outcome']) ?? 'setup-failed';
  return {
    outcome,
    exitCode: numOrNull(obj['exitCode']),
    mountExit: numOrNull(obj['mountExit']),
    umountExit: numOrNull(obj['umountExit']),
    serverExit: numOrNull(obj['serverExit']),
    hostAddr: typeof obj['hostAddr'] === 'string' ? obj['hostAddr'] : '',
    guestAddr: typeof obj['guestAddr'] === 'string' ? obj['guestAddr'] : '',
    timingsMs: {
      serverStart: numOrNull(timings['serverStart']),
      bootToMount: numOrNull(timings['bootToMount']),
      bootToScript: numOrNull(timings['bootToScript']),
      script: numOrNull(timings['script']),
      guest: numOrNull(timings['guest']),
      total: numOrNull(timings['total']),
    },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function numOrNull(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
