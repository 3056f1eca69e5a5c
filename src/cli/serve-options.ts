// The `serve` command's flags: declared once for yargs, validated into a typed ServeConfig.
import os from 'node:os';
import path from 'node:path';
import type { Argv } from 'yargs';
import { ClientRangeError, isEveryone, isLoopbackListen, parseClientRanges, type ClientRange } from './client-addresses.js';

export interface ServeConfig {
  bucket: string;
  /** '' for the whole bucket, else a key prefix ending in '/'. */
  prefix: string;
  endpointUrl?: string;
  region?: string;
  forcePathStyle: boolean;
  profile?: string;
  /** S3 storage class of new objects (e.g. STANDARD_IA); the bucket's default when absent. */
  storageClass?: string;
  sse?: SseMode;
  sseKmsKeyId?: string;
  requesterPays: boolean;
  expectedBucketOwner?: string;
  /** Send unsigned requests (public buckets). */
  noSignRequest: boolean;
  listen: string;
  port: number;
  readOnly: boolean;
  allowDelete: boolean;
  allowOverwrite: boolean;
  uid: number;
  gid: number;
  fileMode: number;
  dirMode: number;
  /** How long metadata from S3 is trusted; 0 revalidates on every use. */
  metadataTtlMs: number;
  negativeMetadataTtlMs: number;
  stateDir: string;
  memoryTargetBytes: number;
  readPartSize: number;
  writePartSize: number;
  publishDelayMs: number;
  insecure: boolean;
  /** Who may connect besides loopback; empty when only loopback may (listening on loopback). */
  allowClients: ClientRange[];
  /** Serve or register the portmapper: on (must), off, auto (when possible). */
  portmap: PortmapMode;
  uploadChecksums: boolean;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  logFormat: 'logfmt' | 'json';
  /** Log to a new file in this directory instead of stderr. */
  logDirectory?: string;
  /** host:port for the Prometheus endpoint; undefined when off. */
  metricsListen?: { host: string; port: number };
}

export const SSE_MODES = ['AES256', 'aws:kms', 'aws:kms:dsse'] as const;
export type SseMode = (typeof SSE_MODES)[number];

export const PORTMAP_MODES = ['auto', 'on', 'off'] as const;
export type PortmapMode = (typeof PORTMAP_MODES)[number];

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const MiB = 1024 * 1024;

export function defaultStateDir(): string {
  if (process.getuid?.() === 0) return '/var/lib/s3nfs';
  const xdg = process.env['XDG_STATE_HOME'];
  return path.join(xdg && xdg.length > 0 ? xdg : path.join(os.homedir(), '.local', 'state'), 's3nfs');
}

export function serveFlags<T>(y: Argv<T>) {
  return y
    .positional('target', {
      describe: 'bucket to export, optionally with a key prefix: BUCKET or BUCKET/PREFIX/',
      type: 'string',
    })
    .option('endpoint-url', { group: 'S3:', type: 'string', describe: 'S3 endpoint URL (e.g. a local Ceph RGW)' })
    .option('region', { group: 'S3:', type: 'string', describe: 'AWS region of the bucket' })
    .option('force-path-style', {
      group: 'S3:',
      type: 'boolean',
      default: false,
      describe: 'path-style bucket addressing (always on with --endpoint-url)',
    })
    .option('prefix', {
      group: 'S3:',
      type: 'string',
      describe: 'export only keys under this prefix (instead of BUCKET/PREFIX/)',
    })
    .option('profile', { group: 'S3:', type: 'string', describe: 'AWS credentials profile' })
    .option('sign-request', {
      group: 'S3:',
      type: 'boolean',
      default: true,
      describe: 'sign requests; --no-sign-request sends them unsigned (public buckets)',
    })
    .option('requester-pays', {
      group: 'S3:',
      type: 'boolean',
      default: false,
      describe: 'accept the charges of a requester-pays bucket',
    })
    .option('expected-bucket-owner', {
      group: 'S3:',
      type: 'string',
      describe: 'AWS account ID the bucket must belong to (requests fail otherwise)',
    })
    .option('storage-class', {
      group: 'S3:',
      type: 'string',
      describe: 'storage class of new objects, e.g. STANDARD_IA (default: the bucket\'s)',
    })
    .option('sse', {
      group: 'S3:',
      choices: SSE_MODES,
      describe: 'server-side encryption of new objects',
    })
    .option('sse-kms-key-id', {
      group: 'S3:',
      type: 'string',
      describe: 'KMS key ARN for --sse aws:kms or aws:kms:dsse',
    })
    .option('upload-checksums', {
      group: 'S3:',
      type: 'boolean',
      default: false,
      describe: 'send request checksums (off: only when S3 requires them)',
    })
    .option('listen', { group: 'Server:', type: 'string', default: '127.0.0.1', describe: 'address to listen on' })
    .option('port', { group: 'Server:', type: 'number', default: 2049, describe: 'TCP port for NFS and MOUNT' })
    .option('insecure', {
      group: 'Server:',
      type: 'boolean',
      default: false,
      describe: 'accept calls from non-privileged source ports (>= 1024)',
    })
    .option('allow-client', {
      group: 'Server:',
      type: 'string',
      describe:
        'address or CIDR range that may connect (repeatable or comma-separated); needed to listen beyond loopback, 0.0.0.0/0 allows everyone',
    })
    .option('portmap', {
      group: 'Server:',
      choices: PORTMAP_MODES,
      default: 'auto' as PortmapMode,
      describe: 'register with the system rpcbind, or else answer portmap on port 111 (auto: when possible)',
    })
    .option('state-dir', {
      group: 'Server:',
      type: 'string',
      default: defaultStateDir(),
      describe: 'directory for file handles, staged writes, the pid file and the control socket',
    })
    .option('read-only', { group: 'File system:', type: 'boolean', default: false, describe: 'refuse all writes' })
    .option('allow-delete', { group: 'File system:', type: 'boolean', default: false, describe: 'allow rm of objects' })
    .option('allow-overwrite', {
      group: 'File system:',
      type: 'boolean',
      default: false,
      describe: 'allow replacing existing objects (open with truncate)',
    })
    .option('uid', { group: 'File system:', type: 'number', default: 0, describe: 'owner uid of every file' })
    .option('gid', { group: 'File system:', type: 'number', default: 0, describe: 'owner gid of every file' })
    .option('file-mode', { group: 'File system:', type: 'string', default: '0644', describe: 'file permission bits (octal)' })
    .option('dir-mode', { group: 'File system:', type: 'string', default: '0755', describe: 'directory permission bits (octal)' })
    .option('metadata-ttl', {
      group: 'File system:',
      type: 'string',
      default: 'minimal',
      describe: 'seconds to trust metadata from S3, or "minimal" (revalidate) or "indefinite"',
    })
    .option('negative-metadata-ttl', {
      group: 'File system:',
      type: 'string',
      describe: 'seconds to remember that a name does not exist (default: as --metadata-ttl)',
    })
    .option('memory-target', {
      group: 'Performance:',
      type: 'number',
      default: 512,
      describe: 'MiB of memory for read-ahead buffers (written data is staged on disk)',
    })
    .option('part-size', {
      group: 'Performance:',
      type: 'string',
      describe: 'bytes per ranged GET and per multipart part (sets both; suffixes K, M, G allowed: 16M)',
    })
    .option('read-part-size', {
      group: 'Performance:',
      type: 'number',
      default: 16,
      describe: 'MiB per read-ahead GET (the largest ranged GET)',
    })
    .option('write-part-size', {
      group: 'Performance:',
      type: 'number',
      default: 8,
      describe: 'MiB per multipart upload part (max object size is 10,000 parts)',
    })
    .option('publish-delay', {
      group: 'Performance:',
      type: 'number',
      default: 5,
      describe: 'seconds a written file must be quiet before it is uploaded',
    })
    .option('metrics-listen', {
      group: 'Logging:',
      type: 'string',
      describe: 'serve Prometheus metrics at http://HOST:PORT/metrics (off by default)',
    })
    .option('log-directory', {
      group: 'Logging:',
      alias: 'l',
      type: 'string',
      describe: 'write the log to a new file in this directory instead of stderr',
    })
    .option('debug', { group: 'Logging:', type: 'boolean', default: false, describe: 'log at debug level' })
    .option('log-format', { group: 'Logging:', choices: ['logfmt', 'json'] as const, default: 'logfmt' as const });
}

type ServeArgv = ReturnType<typeof serveFlags<object>> extends Argv<infer U> ? U : never;

function octal(flag: string, v: string): number {
  if (!/^0?[0-7]{1,4}$/.test(v)) throw new UsageError(`--${flag}: "${v}" is not an octal mode like 0644`);
  return parseInt(v, 8);
}

function whole(flag: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new UsageError(`--${flag}: ${v} must be a whole number from ${min} to ${max}`);
  }
  return v;
}

function seconds(flag: string, v: number): number {
  if (!Number.isFinite(v) || v < 0 || v > 86400) throw new UsageError(`--${flag}: ${v} must be seconds from 0 to 86400`);
  return Math.round(v * 1000);
}

function ttlMs(flag: string, v: string): number {
  if (v === 'minimal') return 0;
  if (v === 'indefinite') return Number.MAX_SAFE_INTEGER;
  const s = Number(v);
  if (v.trim() === '' || !Number.isFinite(s) || s < 0) {
    throw new UsageError(`--${flag}: "${v}" must be seconds, "minimal" or "indefinite"`);
  }
  return Math.round(s * 1000);
}

/** Splits `bucket[/prefix]` into the bucket and a prefix that is '' or ends with '/'. */
export function parseTarget(target: string): { bucket: string; prefix: string } {
  const t = target.replace(/^\/+/, '');
  const slash = t.indexOf('/');
  const bucket = slash < 0 ? t : t.slice(0, slash);
  let prefix = slash < 0 ? '' : t.slice(slash + 1);
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) && !/^[A-Za-z0-9._-]{1,255}$/.test(bucket)) {
    throw new UsageError(`"${bucket}" is not a valid bucket name`);
  }
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  if (prefix.split('/').slice(0, -1).some((c) => c === '' || c === '.' || c === '..')) {
    throw new UsageError(`prefix "${prefix}" has an empty, "." or ".." component`);
  }
  return { bucket, prefix };
}

function hostPort(flag: string, v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--${flag}: "${v}" must be HOST:PORT, e.g. 127.0.0.1:9469`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** `16777216`, `16M`, `16MiB`, `1G`: a size in bytes. */
export function parseSize(flag: string, v: string): number {
  const m = /^\s*(\d+)\s*([kKmMgG]?)(?:i?[bB])?\s*$/.exec(v);
  if (!m) throw new UsageError(`--${flag}: "${v}" is not a size (bytes, or with a suffix: 8M, 16MiB, 1G)`);
  const unit = { '': 1, k: 1024, m: MiB, g: 1024 * MiB }[m[2]!.toLowerCase()]!;
  return Number(m[1]) * unit;
}

function partSize(v: string): number {
  const bytes = parseSize('part-size', v);
  if (bytes % MiB !== 0 || bytes < 5 * MiB || bytes > 1024 * MiB) {
    throw new UsageError(
      `--part-size: ${v} must be a whole number of MiB from 5M to 1024M (the value is in bytes unless it has a suffix: 8M)`,
    );
  }
  return bytes;
}

/** The ranges of --allow-client, checked against --listen: serving beyond loopback needs a list. */
function allowClients(listen: string, list: string | undefined): ClientRange[] {
  let ranges: ClientRange[];
  try {
    ranges = list === undefined ? [] : parseClientRanges(list);
  } catch (err) {
    if (err instanceof ClientRangeError) throw new UsageError(`--allow-client: ${err.message}`);
    throw err;
  }
  if (ranges.length === 0 && !isLoopbackListen(listen)) {
    throw new UsageError(
      `--listen ${listen} would serve beyond this machine: name who may connect with --allow-client ` +
        `(e.g. --allow-client 192.168.1.0/24), or --allow-client 0.0.0.0/0 to allow everyone`,
    );
  }
  return ranges;
}

/** Whether an --allow-client list lets every address in (an explicit 0.0.0.0/0 or ::/0). */
export function allowsEveryone(ranges: readonly ClientRange[]): boolean {
  return ranges.some(isEveryone);
}

export function toServeConfig(a: ServeArgv): ServeConfig {
  if (a.target === undefined || a.target === '') {
    throw new UsageError('name a bucket: s3nfs serve BUCKET[/PREFIX/] (or target: in --config)');
  }
  const target = parseTarget(a.target);
  const bucket = target.bucket;
  let prefix = target.prefix;
  if (a.prefix !== undefined && a.prefix !== '') {
    if (prefix !== '') throw new UsageError(`give the prefix once: in BUCKET/PREFIX/ or with --prefix, not both`);
    prefix = parseTarget(`${bucket}/${a.prefix}`).prefix;
  }
  if (a['sse-kms-key-id'] !== undefined && a.sse !== 'aws:kms' && a.sse !== 'aws:kms:dsse') {
    throw new UsageError('--sse-kms-key-id needs --sse aws:kms or --sse aws:kms:dsse');
  }
  if (a['storage-class'] !== undefined && !/^[A-Z][A-Z0-9_]*$/.test(a['storage-class'])) {
    throw new UsageError(`--storage-class: "${a['storage-class']}" is not a storage class name like STANDARD_IA`);
  }
  const metadataTtlMs = ttlMs('metadata-ttl', a['metadata-ttl']);
  const both = a['part-size'] === undefined ? undefined : partSize(a['part-size']);
  const config: ServeConfig = {
    bucket,
    prefix,
    endpointUrl: a['endpoint-url'],
    region: a.region,
    forcePathStyle: a['force-path-style'] || a['endpoint-url'] !== undefined,
    profile: a.profile,
    requesterPays: a['requester-pays'],
    noSignRequest: !a['sign-request'],
    listen: a.listen,
    port: whole('port', a.port, 0, 65535),
    readOnly: a['read-only'],
    allowDelete: a['allow-delete'],
    allowOverwrite: a['allow-overwrite'],
    uid: whole('uid', a.uid, 0, 0xffffffff),
    gid: whole('gid', a.gid, 0, 0xffffffff),
    fileMode: octal('file-mode', a['file-mode']),
    dirMode: octal('dir-mode', a['dir-mode']),
    metadataTtlMs,
    negativeMetadataTtlMs:
      a['negative-metadata-ttl'] === undefined ? metadataTtlMs : ttlMs('negative-metadata-ttl', a['negative-metadata-ttl']),
    stateDir: path.resolve(a['state-dir']),
    memoryTargetBytes: whole('memory-target', a['memory-target'], 64, 1 << 20) * MiB,
    readPartSize: both ?? whole('read-part-size', a['read-part-size'], 1, 1024) * MiB,
    writePartSize: both ?? whole('write-part-size', a['write-part-size'], 5, 5120) * MiB,
    publishDelayMs: seconds('publish-delay', a['publish-delay']),
    insecure: a.insecure,
    allowClients: allowClients(a.listen, a['allow-client']),
    portmap: a.portmap,
    uploadChecksums: a['upload-checksums'],
    logLevel: a.debug ? 'debug' : 'info',
    logFormat: a['log-format'],
    metricsListen: a['metrics-listen'] === undefined ? undefined : hostPort('metrics-listen', a['metrics-listen']),
  };
  if (a['storage-class'] !== undefined) config.storageClass = a['storage-class'];
  if (a.sse !== undefined) config.sse = a.sse;
  if (a['sse-kms-key-id'] !== undefined) config.sseKmsKeyId = a['sse-kms-key-id'];
  if (a['expected-bucket-owner'] !== undefined) config.expectedBucketOwner = a['expected-bucket-owner'];
  if (a['log-directory'] !== undefined) config.logDirectory = path.resolve(a['log-directory']);
  return config;
}

/** Flags that may be given more than once; their values are joined with commas. */
export const REPEATABLE_FLAGS: readonly string[] = ['allow-client'];

/**
 * Joins the values of repeatable flags (`--allow-client A --allow-client B`) into one
 * (`--allow-client=A,B`) before yargs parses, which would otherwise keep only the last.
 */
export function joinRepeatedFlags(args: readonly string[], flags: readonly string[] = REPEATABLE_FLAGS): string[] {
  const first = new Map<string, { at: number; values: string[] }>();
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? (eq < 0 ? a.slice(2) : a.slice(2, eq)) : undefined;
    const flag = name === undefined ? undefined : flags.find((f) => f === name || f.replace(/-/g, '_') === name);
    if (flag === undefined) {
      out.push(a);
      continue;
    }
    const value = eq >= 0 ? a.slice(eq + 1) : args[++i];
    if (value === undefined) throw new UsageError(`--${flag} needs a value`);
    const seen = first.get(flag);
    if (seen) {
      seen.values.push(value);
    } else {
      first.set(flag, { at: out.length, values: [value] });
      out.push(''); // replaced below by --flag=all,values
    }
  }
  for (const [flag, { at, values }] of first) out[at] = `--${flag}=${values.join(',')}`;
  return out;
}
