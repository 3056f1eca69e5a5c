// The client side of the control socket: one request, one response.

import net from 'node:net';
import {
  ControlProtocolError,
  encodeMessage,
  parseResponse,
  type ControlOp,
  type ControlRequest,
  type ControlResult,
} from './protocol.js';

export type ControlClientErrorKind =
  /** No server: no socket file, or nothing listening on it. */
  | 'no-server'
  /** Not allowed to use the socket (another user's server). */
  | 'permission'
  | 'timeout'
  /** The server answered with an error. */
  | 'failed'
  /** The connection broke or the reply was not a response. */
  | 'protocol';

export class ControlClientError extends Error {
  constructor(
    readonly kind: ControlClientErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'ControlClientError';
  }
}

export interface ControlRequestOptions {
  /** Default 10 s; 0 waits as long as it takes (a flush of large files). */
  timeoutMs?: number;
}

/** Sends one request to the server listening on `socketPath` and returns its result. */
export function controlRequest<R extends ControlRequest>(
  socketPath: string,
  request: R,
  options: ControlRequestOptions = {},
): Promise<ControlResult<R['op'] & ControlOp>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: socketPath });
    let text = '';
    let settled = false;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => fail(new ControlClientError('timeout', `no answer from ${socketPath} within ${timeoutMs} ms`)), timeoutMs)
        : undefined;
    function fail(err: ControlClientError): void {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      socket.destroy();
      reject(err);
    }
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(encodeMessage(request)));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        fail(new ControlClientError('no-server', `no server is running (nothing answers on ${socketPath})`));
      } else if (err.code === 'EACCES' || err.code === 'EPERM') {
        fail(new ControlClientError('permission', `not allowed to use ${socketPath} (the server runs as another user)`));
      } else {
        fail(new ControlClientError('protocol', `${socketPath}: ${err.message}`));
      }
    });
    socket.on('close', () => {
      if (settled) return;
      const line = text.split('\n', 1)[0] ?? '';
      if (line === '') return fail(new ControlClientError('protocol', `${socketPath} closed without an answer`));
      try {
        const response = parseResponse(line);
        if (!response.ok) return fail(new ControlClientError('failed', response.error));
        settled = true;
        if (timer) clearTimeout(timer);
        resolve(response.result as ControlResult<R['op'] & ControlOp>);
      } catch (err) {
        fail(new ControlClientError('protocol', err instanceof ControlProtocolError ? err.message : String(err)));
      }
    });
  });
}
