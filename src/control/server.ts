// The server side of the control socket: listens on <stateDir>/control.sock (mode 0600), reads one
// request line per connection, answers it through the handlers and closes the connection.

import { chmod, unlink } from 'node:fs/promises';
import net from 'node:net';
import type { LogSink } from '../log/logger.js';
import {
  ControlProtocolError,
  MAX_REQUEST_BYTES,
  encodeMessage,
  parseRequest,
  type ControlRequest,
  type ControlResponse,
  type FlushReport,
  type StatusReport,
  type StopReport,
} from './protocol.js';

export interface ControlHandlers {
  status(): StatusReport;
  flush(path: string | undefined): Promise<FlushReport>;
  stop(): StopReport;
}

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

/** The longest unix socket path Linux accepts (sun_path is 108 bytes with the terminating NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

export class ControlSocketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlSocketError';
  }
}

/** True when something accepts connections on the socket path. */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ path });
    const timer = setTimeout(() => finish(false), timeoutMs);
    function finish(v: boolean): void {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    }
    s.once('connect', () => finish(true));
    s.once('error', () => finish(false));
  });
}

async function answer(handlers: ControlHandlers, request: ControlRequest): Promise<ControlResponse> {
  switch (request.op) {
    case 'status':
      return { ok: true, result: handlers.status() };
    case 'flush':
      return { ok: true, result: await handlers.flush(request.path) };
    case 'stop':
      return { ok: true, result: handlers.stop() };
  }
}

/**
 * Starts listening. A socket file left by a server that is gone is replaced; one that still
 * answers belongs to a running server and is an error.
 */
export async function startControlServer(path: string, handlers: ControlHandlers, log: LogSink): Promise<ControlServer> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new ControlSocketError(
      `the control socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes (use a shorter --state-dir)`,
    );
  }
  if (await socketAnswers(path)) {
    throw new ControlSocketError(`another server answers on ${path}`);
  }
  await unlink(path).catch(() => {});

  const connections = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    let handled = false;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      if (handled) return;
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl < 0) {
        if (buffered.length > MAX_REQUEST_BYTES) {
          handled = true;
          socket.end(encodeMessage({ ok: false, error: 'request too long' }));
        }
        return;
      }
      handled = true;
      const line = buffered.slice(0, nl);
      void respond(line).then((response) => {
        if (!socket.destroyed) socket.end(encodeMessage(response));
      });
    });
  });

  const respond = async (line: string): Promise<ControlResponse> => {
    let request: ControlRequest;
    try {
      request = parseRequest(line);
    } catch (err) {
      return { ok: false, error: err instanceof ControlProtocolError ? err.message : String(err) };
    }
    try {
      return await answer(handlers, request);
    } catch (err) {
      log.warn('control request failed', { op: request.op, err });
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.warn('control socket error', { err }));
  try {
    await chmod(path, 0o600);
  } catch (err) {
    server.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    path,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Requests still being answered (a long flush) are cut: the server is going away.
        for (const s of connections) s.destroy();
      }).then(() => unlink(path).catch(() => {}))),
  };
}
