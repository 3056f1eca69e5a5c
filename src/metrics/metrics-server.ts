// The scrape endpoint: GET (or HEAD) /metrics answers the registry in the text format; every other
// path is 404 and every other method on /metrics is 405. It listens only where it is told to.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import { EXPOSITION_CONTENT_TYPE } from './exposition.js';
import type { MetricRegistry } from './registry.js';

export interface MetricsServerOptions {
  registry: MetricRegistry;
  /** Address to listen on, e.g. '127.0.0.1' or '::'. */
  host: string;
  /** TCP port; 0 picks a free one (see `address`). */
  port: number;
  logger?: Logger;
}

export interface MetricsServer {
  /** Where it actually listens. */
  readonly address: { host: string; port: number };
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

export function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const server = http.createServer((req, res) => answer(opts, req, res));
  // Scrapers hold connections open between scrapes; these limits keep a stuck one from lingering.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', onError);
      server.on('error', (err) => opts.logger?.error('metrics server error', { err: err.message }));
      const a = server.address() as AddressInfo;
      resolve({
        address: { host: a.address, port: a.port },
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            server.closeAllConnections();
          }),
      });
    });
  });
}

function answer(opts: MetricsServerOptions, req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = (req.url ?? '/').split('?', 1)[0];
  if (path !== '/metrics') {
    reply(res, 404, 'not found: metrics are at /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    reply(res, 405, 'method not allowed\n');
    return;
  }
  let body: string;
  try {
    body = opts.registry.render();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    opts.logger?.error('metrics collection failed', { err: message });
    reply(res, 500, `metrics collection failed: ${message}\n`);
    return;
  }
  res.writeHead(200, {
    'Content-Type': EXPOSITION_CONTENT_TYPE,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function reply(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
