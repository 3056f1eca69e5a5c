// A loopback TCP server for DirectGetHandler tests that writes exact bytes, so a test decides where a
// response is split and when a connection closes. Each accepted connection is handed to a script.

import net from 'node:net';
import tls from 'node:tls';

/** One accepted connection, seen from the server side. */
export class RawConnection {
  /** Request heads (request line and fields, blank line included) in the order they arrived. */
  readonly heads: string[] = [];
  /** Settles when the socket closed, from either side. */
  readonly closed: Promise<void>;
  private pending = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended = false;

  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    // A client that destroys its socket makes ours fail with ECONNRESET/EPIPE: that is what tests provoke.
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      this.wake();
    });
    this.closed = new Promise<void>((resolve) =>
      socket.once('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      }),
    );
  }

  /** The next request head, or undefined once the connection closed before one arrived in full. */
  async nextRequest(): Promise<string | undefined> {
    for (;;) {
      const at = this.pending.indexOf('\r\n\r\n');
      if (at >= 0) {
        const head = this.pending.toString('latin1', 0, at + 4);
        this.pending = this.pending.subarray(at + 4);
        this.heads.push(head);
        return head;
      }
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** Writes bytes and waits until the kernel took them (resolves quietly if the socket is gone). */
  write(data: Buffer | string): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(data, () => resolve());
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

export type Script = (conn: RawConnection, index: number) => Promise<void> | void;

/** Counts connections (all, and open at once) and runs `script` for each one. */
export class RawServer {
  readonly connections: RawConnection[] = [];
  open = 0;
  maxOpen = 0;
  private constructor(
    readonly server: net.Server,
    readonly port: number,
  ) {}

  /** Listens on 127.0.0.1 (TLS when `secure` is given) and runs `script` for each connection. */
  static async start(script: Script, secure?: tls.TlsOptions): Promise<RawServer> {
    let self: RawServer | undefined;
    const onSocket = (socket: net.Socket): void => {
      const srv = self!;
      const conn = new RawConnection(socket);
      const index = srv.connections.length;
      srv.connections.push(conn);
      srv.open++;
      srv.maxOpen = Math.max(srv.maxOpen, srv.open);
      void conn.closed.then(() => srv.open--);
      Promise.resolve()
        .then(() => script(conn, index))
        .catch(() => socket.destroy());
    };
    const server = secure ? tls.createServer(secure, onSocket) : net.createServer(onSocket);
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new RawServer(server, (server.address() as net.AddressInfo).port);
    return self;
  }

  /** Destroys every connection and stops listening. */
  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** An HTTP/1.1 response as bytes: status line, the given fields in order, blank line, body. */
export function response(status: string, fields: [string, string | number][], body: Buffer | string = ''): Buffer {
  let head = `HTTP/1.1 ${status}\r\n`;
  for (const [name, value] of fields) head += `${name}: ${value}\r\n`;
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body)]);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Settles with true when `p` settles within `ms`, false otherwise (for "did it ever happen" checks). */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), expired]);
  } finally {
    clearTimeout(timer);
  }
}
