// The `serve` command's flags: declared once for yargs, validated into a typed ServeConfig.
import os from 'node:os';
import path from 'node:path';
import type { Argv } from 'yargs';

export interface ServeConfig {
  bucket: string;
  /** '' for the whole bucket, else a key prefix ending in '/'. */
  prefix: string;
  endpointUrl?: string;
  region?: string;
  forcePathStyle: boolean;
  profile?: string;
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
  uploadChecksums: boolean;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  logFormat: 'logfmt' | 'json';
  /** host:port for the Prometheus endpoint; undefined when off. */
  metricsListen?: { host: string; port: number };
}

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
    .option('profile', { group: 'S3:', type: 'string', describe: 'AWS credentials profile' })
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
    .option('state-dir', {
      group: 'Server:',
      type: 'string',
      default: defaultStateDir(),
      describe: 'directory for the handle map and the write staging journal',
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
      describe: 'MiB of memory for read and write buffers',
    })
    .option('read-part-size', { group: 'Performance:', type: 'number', default: 8, describe: 'MiB per ranged GET' })
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

export function toServeConfig(a: ServeArgv): ServeConfig {
  if (a.target === undefined || a.target === '') {
    throw new UsageError('name a bucket: s3nfs serve BUCKET[/PREFIX/] (or target: in --config)');
  }
  const { bucket, prefix } = parseTarget(a.target);
  const metadataTtlMs = ttlMs('metadata-ttl', a['metadata-ttl']);
  return {
    bucket,
    prefix,
    endpointUrl: a['endpoint-url'],
    region: a.region,
    forcePathStyle: a['force-path-style'] || a['endpoint-url'] !== undefined,
    profile: a.profile,
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
    readPartSize: whole('read-part-size', a['read-part-size'], 1, 1024) * MiB,
    writePartSize: whole('write-part-size', a['write-part-size'], 5, 5120) * MiB,
    publishDelayMs: seconds('publish-delay', a['publish-delay']),
    insecure: a.insecure,
    uploadChecksums: a['upload-checksums'],
    logLevel: a.debug ? 'debug' : 'info',
    logFormat: a['log-format'],
    metricsListen: a['metrics-listen'] === undefined ? undefined : hostPort('metrics-listen', a['metrics-listen']),
  };
}
