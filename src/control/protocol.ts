// The control protocol between `s3nfs status|flush|stop|unmount` and a running server: one JSON
// object per line over a unix socket in the state directory (mode 0600, so only the server's user
// and root can talk to it). A connection carries one request and its response, then closes.

/** The socket's name inside the state directory. */
export const CONTROL_SOCKET_NAME = 'control.sock';
/** The server's pid file inside the state directory. */
export const PID_FILE_NAME = 's3nfs.pid';
/** Requests longer than this are refused (they are a few dozen bytes). */
export const MAX_REQUEST_BYTES = 64 * 1024;

export type ControlRequest =
  | { readonly op: 'status' }
  /** Publishes staged files now: all of them, or those at or under `path` (relative to the export root). */
  | { readonly op: 'flush'; readonly path?: string }
  /** Stops the server as SIGTERM does; the reply comes before the shutdown starts. */
  | { readonly op: 'stop' };

export type ControlOp = ControlRequest['op'];

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ExportReport {
  /** What clients mount, e.g. /bucket/prefix. */
  path: string;
  bucket: string;
  prefix: string;
  readOnly: boolean;
  /** Where `s3nfs mount` mounted it on this machine, if it did. */
  mountpoint?: string;
}

export interface ClientReport {
  address: string;
  /** Export paths this client mounted (MOUNT MNT) and did not unmount. */
  mounts: string[];
  /** Calls seen from this address, and when the last one came. */
  calls: number;
  lastCallAt?: string;
}

export interface PendingFileReport {
  /** Path relative to the export root. */
  path: string;
  /** writing: waiting for its quiet period; publishing; failed (retried); published (kept as a local copy). */
  phase: 'writing' | 'publishing' | 'failed' | 'published';
  size: number;
  uploadedBytes: number;
  attempts: number;
  lastError?: string;
  nextAttemptAt?: string;
}

export interface UploadTotals {
  /** Files waiting for their quiet period. */
  staged: number;
  publishing: number;
  failed: number;
  /** Bytes of files not yet published. */
  pendingBytes: number;
}

export interface StatusReport {
  pid: number;
  version: string;
  startedAt: string;
  stateDir: string;
  listen: ListenAddress[];
  /** How clients find the ports: e.g. "registered with rpcbind", "serving port 111", "off". */
  portmap: string;
  exports: ExportReport[];
  connections: number;
  clients: ClientReport[];
  uploads: UploadTotals;
  /** Files not yet published (published local copies are left out). */
  pending: PendingFileReport[];
  memory: { reservedBytes: number; limitBytes: number };
  metrics?: ListenAddress;
}

export interface FlushFileReport {
  path: string;
  outcome: 'published' | 'unchanged' | 'changed-during-publish' | 'failed' | 'not-staged';
  error?: string;
}

export interface FlushReport {
  files: FlushFileReport[];
  published: number;
  failed: number;
}

export interface StopReport {
  stopping: true;
  pid: number;
}

export type ControlResult<O extends ControlOp> = O extends 'status'
  ? StatusReport
  : O extends 'flush'
    ? FlushReport
    : StopReport;

export type ControlResponse = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly error: string };

export class ControlProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlProtocolError';
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses one request line; throws ControlProtocolError naming what is wrong. */
export function parseRequest(line: string): ControlRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ControlProtocolError('request is not JSON');
  }
  if (!isRecord(v)) throw new ControlProtocolError('request must be a JSON object');
  const extra = Object.keys(v).filter((k) => k !== 'op' && k !== 'path');
  if (extra.length > 0) throw new ControlProtocolError(`unknown request field "${extra[0]}"`);
  switch (v['op']) {
    case 'status':
    case 'stop':
      if (v['path'] !== undefined) throw new ControlProtocolError(`"${v['op']}" takes no path`);
      return { op: v['op'] };
    case 'flush': {
      const p = v['path'];
      if (p === undefined) return { op: 'flush' };
      if (typeof p !== 'string' || p.length > 4096 || p.includes('\0')) {
        throw new ControlProtocolError('flush path must be a string of at most 4096 characters');
      }
      return { op: 'flush', path: p };
    }
    default:
      throw new ControlProtocolError(`unknown op ${JSON.stringify(v['op'])} (status, flush, stop)`);
  }
}

/** Parses one response line; throws ControlProtocolError when it is not a response. */
export function parseResponse(line: string): ControlResponse {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ControlProtocolError('response is not JSON');
  }
  if (!isRecord(v) || typeof v['ok'] !== 'boolean') throw new ControlProtocolError('response has no "ok"');
  if (v['ok']) return { ok: true, result: v['result'] };
  return { ok: false, error: typeof v['error'] === 'string' ? v['error'] : 'unknown error' };
}

/** One message as it goes on the wire: compact JSON and a newline. */
export function encodeMessage(message: ControlRequest | ControlResponse): string {
  return `${JSON.stringify(message)}\n`;
}

/**
 * An export-relative path as the server matches it against keys: no leading or trailing
 * slashes, no empty, "." or ".." components. '' is the export root.
 */
export function normalizeExportPath(p: string): string {
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new ControlProtocolError(`path "${p}" leaves the export`);
  return parts.join('/');
}
