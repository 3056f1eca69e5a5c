// GetObject bodies are nearly all the bytes s3nfs moves. Node's http client hands a body over as a stream
// of freshly allocated 64 KiB buffers, which the read path then had to join into one: at a few hundred
// MiB/s V8 spent more time collecting that garbage (external memory pressure forces full GCs) than on
// anything else, and the SDK's stream plumbing took most of the rest.
//
// DirectGetHandler is the SDK's request handler. GetObject requests, already built and signed by the SDK,
// it sends itself on kept-alive sockets: it parses the response head and has the kernel read the body
// straight into one buffer of the response's Content-Length (over TLS, each decrypted chunk is copied in
// once). The SDK gets the head and a ReceivedBody stream; SdkObjectStore takes the whole buffer from it
// without streaming. Every other request, and a GetObject response not framed by Content-Length
// (chunked, or ended by closing), goes through the SDK's NodeHttpHandler.

import net from 'node:net';
import tls from 'node:tls';
import { Readable } from 'node:stream';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import type { HttpRequest, HttpResponse } from '@smithy/core/transport';
import { bodyLength, keepsAlive, parseResponseHead, HttpHeadError, type ResponseHead } from './http-head.js';
import { uriEncode } from './sigv4.js';

type NodeHttpHandlerConfig = ReturnType<NodeHttpHandler['httpHandlerConfigs']>;
type HandlerOptions = NonNullable<Parameters<NodeHttpHandler['handle']>[1]>;

export interface DirectGetOptions {
  /** Handles every request this handler does not send itself. */
  fallback: NodeHttpHandler;
  /** Connections per endpoint (requests beyond wait for one). */
  maxSockets: number;
  connectTimeoutMs: number;
  /** A request fails when its connection stays silent this long. */
  idleTimeoutMs: number;
  /** A kept-alive connection unused this long is closed. */
  keepAliveMs?: number;
  /** Extra TLS settings (a private CA, say) for https endpoints. */
  tls?: tls.ConnectionOptions;
  /** Where bodies are received into (a BodyPool's take); default: a fresh buffer each. */
  allocateBody?: (length: number) => Buffer;
}

const HEAD_INITIAL = 8 * 1024;
const HEAD_MAX = 64 * 1024;
const DEFAULT_KEEP_ALIVE_MS = 15_000;
const EMPTY: Buffer = Buffer.alloc(0);

/** A GetObject body received whole into one buffer; also a Readable for code that streams it. */
export class ReceivedBody extends Readable {
  /** Settles when the last byte arrived (or the connection failed first). */
  readonly whole: Promise<Buffer>;
  private settle!: { resolve: (b: Buffer) => void; reject: (e: Error) => void };
  private done = false;
  private failure: Error | undefined;
  private streaming = false;
  private filled = 0;
  /** whenReceived() callers, by the byte count they wait for. */
  private waiters: { n: number; resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(
    /** The buffer the body is received into; bytes [0, received) are final. */
    readonly buffer: Buffer,
    readonly length: number,
    private readonly abandon: () => void,
  ) {
    super();
    this.whole = new Promise<Buffer>((resolve, reject) => (this.settle = { resolve, reject }));
    this.whole.catch(() => undefined); // a body nobody reads must not become an unhandled rejection
  }

  /** Bytes received so far. */
  get received(): number {
    return this.filled;
  }

  /** Resolves once at least `n` bytes arrived; rejects if the connection fails first. */
  whenReceived(n: number): Promise<void> {
    if (this.filled >= n) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => this.waiters.push({ n, resolve, reject }));
  }

  /** @internal */ progress(filled: number): void {
    this.filled = filled;
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.n <= filled);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.n > filled);
    for (const w of ready) w.resolve();
  }

  /** @internal */ complete(body: Buffer): void {
    this.done = true;
    this.progress(body.length);
    this.settle.resolve(body);
  }

  /** @internal */ fail(err: Error): void {
    this.done = true;
    this.failure = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
    this.settle.reject(err);
  }

  override _read(): void {
    if (this.streaming) return;
    this.streaming = true;
    this.whole.then(
      (body) => {
        if (body.length > 0) this.push(body);
        this.push(null);
      },
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.done) this.abandon(); // the reader gave up: stop receiving
    callback(err);
  }
}

export class DirectGetHandler {
  private readonly pools = new Map<string, ConnectionPool>();
  private closed = false;

  constructor(private readonly opts: DirectGetOptions) {}

  async handle(
    request: HttpRequest,
    options: HandlerOptions = {},
  ): Promise<{ response: HttpResponse }> {
    if (this.closed || !isObjectGet(request)) return this.opts.fallback.handle(request, options);
    const signal = options.abortSignal instanceof AbortSignal ? options.abortSignal : undefined;
    const pool = this.poolFor(request);
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw abortError();
      const conn = await pool.acquire(signal);
      try {
        return { response: await conn.exchange(request, signal) };
      } catch (err) {
        if (err instanceof NotFramed) return this.opts.fallback.handle(request, options);
        // A kept-alive connection the server had already closed: the request never reached it.
        if (err instanceof ClosedBeforeResponse) {
          if (conn.reused && attempt === 1) continue;
          throw err.cause;
        }
        throw err;
      }
    }
  }

  updateHttpClientConfig(key: keyof NodeHttpHandlerConfig, value: NodeHttpHandlerConfig[typeof key]): void {
    this.opts.fallback.updateHttpClientConfig(key, value);
  }

  httpHandlerConfigs(): NodeHttpHandlerConfig {
    return this.opts.fallback.httpHandlerConfigs();
  }

  destroy(): void {
    this.closed = true;
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
    this.opts.fallback.destroy();
  }

  /** Connections open and idle, per endpoint (for tests and status). */
  connectionCounts(): { open: number; idle: number } {
    let open = 0;
    let idle = 0;
    for (const p of this.pools.values()) {
      open += p.openCount;
      idle += p.idleCount;
    }
    return { open, idle };
  }

  private poolFor(request: HttpRequest): ConnectionPool {
    const secure = request.protocol === 'https:';
    const host = request.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = request.port ?? (secure ? 443 : 80);
    const key = `${secure ? 'https' : 'http'}://${host}:${port}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new ConnectionPool({ secure, host, port }, this.opts);
      this.pools.set(key, pool);
    }
    return pool;
  }
}

function isObjectGet(request: HttpRequest): boolean {
  return request.method === 'GET' && request.query['x-id'] === 'GetObject' && request.body === undefined;
}

// ---- connections ------------------------------------------------------------------------------

interface Endpoint {
  secure: boolean;
  host: string;
  port: number;
}

/** The connections of one endpoint: at most maxSockets, idle ones reused newest first. */
class ConnectionPool {
  private readonly idle: Connection[] = [];
  private readonly waiting: (() => void)[] = [];
  private open = 0;
  private closed = false;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly opts: DirectGetOptions,
  ) {}

  get openCount(): number {
    return this.open;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  async acquire(signal: AbortSignal | undefined): Promise<Connection> {
    for (;;) {
      const reusable = this.idle.pop();
      if (reusable) {
        reusable.reused = true;
        return reusable;
      }
      if (this.open < this.opts.maxSockets) {
        this.open++;
        const conn = new Connection(this.endpoint, this.opts, this);
        await conn.connected;
        return conn;
      }
      await this.waitForChange(signal);
    }
  }

  /** A connection finished its exchange and may carry another. */
  release(conn: Connection): void {
    if (this.closed) {
      conn.destroy();
      return;
    }
    this.idle.push(conn);
    this.waiting.shift()?.();
  }

  /** A connection closed (for whatever reason). */
  gone(conn: Connection): void {
    this.open--;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    this.waiting.shift()?.();
  }

  /** Closes idle connections now and busy ones when their exchange ends. */
  close(): void {
    this.closed = true;
    for (const conn of [...this.idle]) conn.destroy();
  }

  private waitForChange(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(wake);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(abortError());
      };
      this.waiting.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

type Phase = 'connecting' | 'idle' | 'head' | 'body' | 'closed';

/** One socket carrying one GetObject exchange at a time. */
class Connection {
  reused = false;
  /** Settles once the socket is connected (and the TLS handshake done). */
  readonly connected: Promise<void>;
  private readonly socket: net.Socket;
  private phase: Phase = 'connecting';
  private head = Buffer.allocUnsafe(HEAD_INITIAL);
  private headLength = 0;
  private body: Buffer = EMPTY;
  private filled = 0;
  private keepAlive = false;
  private pending: { resolve: (r: HttpResponse) => void; reject: (e: unknown) => void } | undefined;
  private received: ReceivedBody | undefined;
  private signal: AbortSignal | undefined;
  private readonly onAbort = (): void => this.destroy(abortError());
  private settleConnect!: { resolve: () => void; reject: (e: unknown) => void };

  constructor(
    endpoint: Endpoint,
    private readonly opts: DirectGetOptions,
    private readonly pool: ConnectionPool,
  ) {
    this.connected = new Promise<void>((resolve, reject) => (this.settleConnect = { resolve, reject }));
    if (endpoint.secure) {
      this.socket = tls.connect({
        ...opts.tls,
        host: endpoint.host,
        port: endpoint.port,
        ...(net.isIP(endpoint.host) ? {} : { servername: endpoint.host }),
        ALPNProtocols: ['http/1.1'],
      });
      // TLS hands decrypted data over in chunks of its own; each is copied in once.
      this.socket.on('data', (chunk: Buffer) => this.copyIn(chunk));
    } else {
      // The kernel reads straight into the buffer readBuffer() names: the body, once the head is parsed.
      this.socket = net.connect({
        host: endpoint.host,
        port: endpoint.port,
        onread: {
          buffer: () => this.readBuffer(),
          callback: (n: number) => {
            this.took(n);
            return true;
          },
        },
      });
    }
    this.socket.setNoDelay(true);
    const timer = setTimeout(() => {
      this.destroy(codedError(`connecting to ${endpoint.host}:${endpoint.port} took over ${opts.connectTimeoutMs} ms`, 'ETIMEDOUT'));
    }, opts.connectTimeoutMs);
    this.socket.once(endpoint.secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      if (this.phase !== 'connecting') return;
      this.phase = 'idle';
      this.settleConnect.resolve();
    });
    this.socket.on('error', (err) => {
      clearTimeout(timer);
      this.destroy(err);
    });
    this.socket.on('close', () => {
      clearTimeout(timer);
      this.destroy(codedError('connection closed by the server', 'ECONNRESET'));
    });
    this.socket.on('timeout', () => {
      if (this.phase === 'idle') this.destroy();
      else this.destroy(timeoutError(`no data from S3 for ${opts.idleTimeoutMs} ms`));
    });
    this.connected.catch(() => undefined);
  }

  /** Sends the request; resolves with the response once its head arrived (the body keeps coming). */
  exchange(request: HttpRequest, signal: AbortSignal | undefined): Promise<HttpResponse> {
    if (this.phase !== 'idle') return Promise.reject(new Error(`connection is ${this.phase}, not idle`));
    if (signal?.aborted) {
      this.pool.release(this);
      return Promise.reject(abortError());
    }
    let text: string;
    try {
      text = requestText(request);
    } catch (err) {
      this.pool.release(this);
      return Promise.reject(err);
    }
    this.phase = 'head';
    this.headLength = 0;
    this.signal = signal;
    signal?.addEventListener('abort', this.onAbort, { once: true });
    this.socket.setTimeout(this.opts.idleTimeoutMs);
    const response = new Promise<HttpResponse>((resolve, reject) => (this.pending = { resolve, reject }));
    this.socket.write(text, 'latin1');
    return response;
  }

  destroy(err?: Error): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.signal?.removeEventListener('abort', this.onAbort);
    this.socket.destroy();
    const failure = err ?? codedError('connection closed', 'ECONNRESET');
    this.settleConnect.reject(failure); // no-op once connected
    if (this.pending) {
      // The server closed the connection before answering (a kept-alive one it had dropped): the
      // request may be sent again elsewhere. Timeouts and aborts are final.
      const untouched = this.headLength === 0 && isConnectionDrop(failure);
      this.pending.reject(untouched ? new ClosedBeforeResponse(failure) : failure);
      this.pending = undefined;
    }
    this.received?.fail(failure);
    this.received = undefined;
    this.body = EMPTY;
    this.pool.gone(this);
  }

  // ---- receiving ----

  /** Where the next bytes from the socket go. */
  private readBuffer(): Buffer {
    if (this.phase === 'body') return this.body.subarray(this.filled);
    if (this.phase === 'head') {
      if (this.headLength === this.head.length && this.head.length < HEAD_MAX) {
        const bigger = Buffer.allocUnsafe(Math.min(HEAD_MAX, this.head.length * 2));
        this.head.copy(bigger, 0, 0, this.headLength);
        this.head = bigger;
      }
      if (this.headLength < this.head.length) return this.head.subarray(this.headLength);
    }
    return this.head; // no reader expects bytes now: took() turns any into an error
  }

  /** `n` bytes arrived in the buffer readBuffer() last returned. */
  private took(n: number): void {
    if (n <= 0) return;
    if (this.phase === 'head' && this.headLength < this.head.length) {
      this.headLength += n;
      this.parseHead();
    } else if (this.phase === 'body') {
      this.filled += n;
      if (this.filled === this.body.length) this.finish();
      else this.received?.progress(this.filled);
    } else if (this.phase === 'head') {
      this.destroy(new HttpHeadError(`response head longer than ${HEAD_MAX} bytes`));
    } else if (this.phase !== 'closed') {
      this.destroy(new HttpHeadError(`the server sent ${n} bytes no request asked for`));
    }
  }

  private copyIn(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && this.phase !== 'closed') {
      const target = this.readBuffer();
      const n = Math.min(target.length, chunk.length - at);
      chunk.copy(target, 0, at, at + n);
      at += n;
      this.took(n);
    }
  }

  private parseHead(): void {
    let head: ResponseHead | undefined;
    let length: number | undefined;
    try {
      head = parseResponseHead(this.head, this.headLength);
      // Interim responses (100 Continue and the like) are skipped.
      while (head && head.statusCode < 200) {
        this.head.copy(this.head, 0, head.length, this.headLength);
        this.headLength -= head.length;
        head = parseResponseHead(this.head, this.headLength);
      }
      if (!head) return;
      length = bodyLength(head, 'GET');
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    if (length === undefined) {
      const pending = this.pending;
      this.pending = undefined;
      this.destroy();
      pending?.reject(new NotFramed());
      return;
    }
    let body: Buffer;
    try {
      body = length === 0 ? EMPTY : this.opts.allocateBody ? this.opts.allocateBody(length) : Buffer.allocUnsafeSlow(length);
    } catch (err) {
      this.destroy(new Error(`cannot hold a body of ${length} bytes in memory`, { cause: err }));
      return;
    }
    const extra = this.headLength - head.length;
    this.filled = this.head.copy(body, 0, head.length, head.length + Math.min(extra, length));
    this.keepAlive = keepsAlive(head) && extra <= length;
    this.body = body;
    this.phase = 'body';
    this.received = new ReceivedBody(body, length, () => this.destroy(abortError()));
    this.received.progress(this.filled);
    const pending = this.pending!;
    this.pending = undefined;
    pending.resolve({ statusCode: head.statusCode, reason: head.reason, headers: head.headers, body: this.received });
    if (this.filled === length) this.finish();
  }

  private finish(): void {
    const received = this.received!;
    const body = this.body;
    this.received = undefined;
    this.body = EMPTY;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.signal = undefined;
    if (this.keepAlive) {
      this.phase = 'idle';
      this.socket.setTimeout(this.opts.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS);
      this.pool.release(this);
    } else {
      this.destroy();
    }
    received.complete(body);
  }
}

// ---- requests and errors ----------------------------------------------------------------------

/** The request line and header fields of a request the SDK built (and signed). */
export function requestText(request: HttpRequest): string {
  const query = queryString(request.query);
  let text = `GET ${request.path}${query ? `?${query}` : ''} HTTP/1.1\r\n`;
  let hasHost = false;
  for (const [name, value] of Object.entries(request.headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`header ${JSON.stringify(name)} holds a line break`);
    if (name.toLowerCase() === 'host') hasHost = true;
    text += `${name}: ${value}\r\n`;
  }
  if (!hasHost) text += `host: ${request.hostname}${request.port ? `:${request.port}` : ''}\r\n`;
  return `${text}\r\n`;
}

/** The query as the SDK's own handler writes it (the signature covers the decoded pairs). */
function queryString(query: HttpRequest['query']): string {
  const parts: string[] = [];
  for (const key of Object.keys(query).sort()) {
    const value = query[key];
    const k = uriEncode(key);
    if (value === null || value === undefined) parts.push(k);
    else if (Array.isArray(value)) for (const v of value) parts.push(`${k}=${uriEncode(v)}`);
    else parts.push(`${k}=${uriEncode(value)}`);
  }
  return parts.join('&');
}


/** The response will not be Content-Length framed: the request goes to the fallback handler instead. */
class NotFramed extends Error {}

/** The connection failed before any byte of a response arrived. */
class ClosedBeforeResponse extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}

function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function timeoutError(message: string): Error {
  const err = new Error(message);
  err.name = 'TimeoutError';
  return err;
}

function abortError(): Error {
  const err = new Error('the request was aborted');
  err.name = 'AbortError';
  return err;
}

function isConnectionDrop(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}
