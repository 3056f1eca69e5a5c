// The head of an HTTP/1.1 response (status line and header fields, RFC 9112 §4–5), parsed from the bytes a
// socket delivered so far. Only what a client of S3 needs: no obsolete line folding, header names
// lower-cased, repeated fields joined with ", ".

export interface ResponseHead {
  statusCode: number;
  reason: string;
  /** HTTP/1.1 or later: connections persist unless the server says otherwise. */
  http11: boolean;
  headers: Record<string, string>;
  /** Bytes of the head, the blank line included: where the body starts. */
  length: number;
}

export class HttpHeadError extends Error {
  override name = 'HttpHeadError';
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parses the head in `buf[0, end)`, or returns undefined while its blank line has not arrived yet. */
export function parseResponseHead(buf: Buffer, end: number): ResponseHead | undefined {
  const at = buf.subarray(0, end).indexOf(CRLFCRLF);
  if (at < 0) return undefined;
  const lines = buf.toString('latin1', 0, at).split('\r\n');
  const status = STATUS_LINE.exec(lines[0]!);
  if (!status) throw new HttpHeadError(`not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  // No prototype: a field named like an Object member (constructor, __proto__) is a field like any other.
  const headers = Object.create(null) as Record<string, string>;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!FIELD_NAME.test(name)) throw new HttpHeadError(`bad header line: ${JSON.stringify(line.slice(0, 80))}`);
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[key] = Object.hasOwn(headers, key) ? `${headers[key]}, ${value}` : value;
  }
  return {
    statusCode: Number(status[2]),
    reason: status[3] ?? '',
    http11: status[1] === '1',
    headers: { ...headers }, // spread defines own properties, even one named __proto__
    length: at + CRLFCRLF.length,
  };
}

/**
 * How many body bytes follow the head: a number for Content-Length framing (0 for responses that never
 * have a body), or undefined when the body is chunked or delimited by the connection closing.
 */
export function bodyLength(head: ResponseHead, method: string): number | undefined {
  const s = head.statusCode;
  if (method === 'HEAD' || (s >= 100 && s < 200) || s === 204 || s === 304) return 0;
  if (head.headers['transfer-encoding'] !== undefined) return undefined;
  const raw = head.headers['content-length'];
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw)) throw new HttpHeadError(`bad Content-Length: ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** Whether the connection may carry another request after this response. */
export function keepsAlive(head: ResponseHead): boolean {
  const tokens = (head.headers['connection'] ?? '').toLowerCase().split(',').map((t) => t.trim());
  return head.http11 ? !tokens.includes('close') : tokens.includes('keep-alive');
}
