// DirectGetHandler against loopback servers: raw TCP (exact bytes, chosen splits) for the GetObject path,
// node:http for what goes to the fallback NodeHttpHandler.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { HttpRequest, type HttpResponse } from '@smithy/core/transport';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DirectGetHandler, ReceivedBody, requestText, type DirectGetOptions } from '../../../src/s3/direct-get.js';
import { HttpHeadError } from '../../../src/s3/http-head.js';
import { RawServer, response, sleep, within, type RawConnection, type Script } from './support-direct-get/raw-server.js';

// ---- helpers ----------------------------------------------------------------------------------

type FallbackArgs = Parameters<NodeHttpHandler['handle']>;

/** The SDK's handler, counting the requests DirectGetHandler hands it. */
class CountingFallback extends NodeHttpHandler {
  readonly seen: FallbackArgs[0][] = [];
  override handle(...args: FallbackArgs): ReturnType<NodeHttpHandler['handle']> {
    this.seen.push(args[0]);
    return super.handle(...args);
  }
}

function makeHandler(t: TestContext, extra: Partial<DirectGetOptions> = {}): { handler: DirectGetHandler; fallback: CountingFallback } {
  const fallback = new CountingFallback({});
  const handler = new DirectGetHandler({ fallback, maxSockets: 4, connectTimeoutMs: 2000, idleTimeoutMs: 3000, ...extra });
  t.after(() => handler.destroy());
  return { handler, fallback };
}

async function rawServer(t: TestContext, script: Script): Promise<RawServer> {
  const server = await RawServer.start(script);
  t.after(() => server.close());
  return server;
}

interface GetOptions {
  protocol?: string;
  method?: string;
  path?: string;
  query?: HttpRequest['query'];
  headers?: Record<string, string>;
  body?: unknown;
}

/** A request shaped like the one the SDK builds (and signs) for GetObject. */
function getObject(port: number, o: GetOptions = {}): HttpRequest {
  return new HttpRequest({
    protocol: o.protocol ?? 'http:',
    hostname: '127.0.0.1',
    port,
    method: o.method ?? 'GET',
    path: o.path ?? '/bucket/some%20key',
    query: o.query ?? { 'x-id': 'GetObject' },
    headers: o.headers ?? { host: `127.0.0.1:${port}`, range: 'bytes=0-9' },
    ...(o.body === undefined ? {} : { body: o.body }),
  });
}

function receivedBody(res: HttpResponse): ReceivedBody {
  assert.ok(res.body instanceof ReceivedBody, 'the body should be a ReceivedBody');
  return res.body;
}

/** Sends `req` and waits for its whole body. */
async function fetchWhole(
  handler: DirectGetHandler,
  req: HttpRequest,
  signal?: AbortSignal,
): Promise<{ response: HttpResponse; body: Buffer }> {
  const { response: res } = await handler.handle(req, signal ? { abortSignal: signal } : {});
  return { response: res, body: await receivedBody(res).whole };
}

async function collect(body: unknown): Promise<Buffer> {
  assert.ok(body instanceof Readable, 'the body should be a Readable');
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** A script answering each request on a connection with `respond`. */
function serve(respond: (conn: RawConnection, head: string, n: number) => Promise<void> | void): Script {
  return async (conn) => {
    for (let n = 0; ; n++) {
      const head = await conn.nextRequest();
      if (head === undefined) return;
      await respond(conn, head, n);
    }
  };
}

function ok(body: Buffer | string, fields: [string, string | number][] = []): Buffer {
  return response('200 OK', [['Content-Length', Buffer.byteLength(body)], ...fields], body);
}

/** The request path the server saw, from the request line. */
function requestPath(head: string): string {
  return head.split(' ')[1]!;
}

async function httpServer(
  t: TestContext,
  listener: http.RequestListener,
): Promise<{ server: http.Server; port: number; requests: { method: string; url: string; body: string }[] }> {
  const requests: { method: string; url: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, body: Buffer.concat(chunks).toString() });
      listener(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port: (server.address() as net.AddressInfo).port, requests };
}

/** A port nothing listens on (it was just bound and released). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

// ---- the GetObject exchange -------------------------------------------------------------------

test('a 206 response arrives whole in ReceivedBody.whole; the server saw exactly the signed request', async (t) => {
  const body = randomBytes(10);
  const server = await rawServer(
    t,
    serve((conn) =>
      conn.write(response('206 Partial Content', [['Content-Length', 10], ['Content-Range', 'bytes 0-9/100'], ['ETag', '"e1"']], body)),
    ),
  );
  const { handler, fallback } = makeHandler(t);
  const { response: res, body: got } = await fetchWhole(handler, getObject(server.port));
  assert.equal(res.statusCode, 206);
  assert.equal(res.reason, 'Partial Content');
  assert.deepEqual(res.headers, { 'content-length': '10', 'content-range': 'bytes 0-9/100', etag: '"e1"' });
  assert.equal(receivedBody(res).length, 10);
  assert.deepEqual(got, body);
  assert.equal(
    server.connections[0]!.heads[0],
    `GET /bucket/some%20key?x-id=GetObject HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\nrange: bytes=0-9\r\n\r\n`,
  );
  assert.equal(fallback.seen.length, 0);
});

test('the request target is the one NodeHttpHandler sends for the same request', async (t) => {
  const { port, requests } = await httpServer(t, (_req, res) => {
    res.setHeader('content-length', '2');
    res.end('ok');
  });
  const req = (): HttpRequest =>
    getObject(port, {
      path: '/bucket/dir/%C3%BC%20%2B.txt',
      query: {
        'x-id': 'GetObject',
        versionId: "v 1/2!'()*~",
        'response-content-disposition': 'attachment; filename="ü.txt"',
        flag: null,
        empty: '',
        multi: ['b', 'a'],
      },
    });
  const { handler } = makeHandler(t);
  const direct = await fetchWhole(handler, req());
  assert.equal(direct.body.toString(), 'ok');
  const sdk = new NodeHttpHandler({});
  t.after(() => sdk.destroy());
  const viaSdk = await sdk.handle(req());
  await collect(viaSdk.response.body);
  assert.equal(requests.length, 2);
  assert.equal(requests[0]!.url, requests[1]!.url);
  assert.match(requests[0]!.url, /^\/bucket\/dir\/%C3%BC%20%2B\.txt\?/);
});

test('requestText: fields in order, host added when missing, line breaks refused', () => {
  const req = new HttpRequest({
    protocol: 'http:',
    hostname: 'example.test',
    port: 8080,
    method: 'GET',
    path: '/b/k',
    query: { 'x-id': 'GetObject', b: 'x y', a: '1' },
    headers: { 'x-amz-date': '20240101T000000Z', authorization: 'AWS4 sig' },
  });
  assert.equal(
    requestText(req),
    'GET /b/k?a=1&b=x%20y&x-id=GetObject HTTP/1.1\r\nx-amz-date: 20240101T000000Z\r\nauthorization: AWS4 sig\r\nhost: example.test:8080\r\n\r\n',
  );
  req.headers['x-evil'] = 'a\r\nx-injected: 1';
  assert.throws(() => requestText(req), /line break/);
});

test('a header holding a line break rejects before anything is sent; the connection stays usable', async (t) => {
  const server = await rawServer(t, serve((conn) => conn.write(ok('fine'))));
  const { handler } = makeHandler(t);
  await assert.rejects(
    handler.handle(getObject(server.port, { headers: { host: 'h', 'x-bad': 'a\nb' } })),
    /line break/,
  );
  const { body } = await fetchWhole(handler, getObject(server.port));
  assert.equal(body.toString(), 'fine');
  assert.equal(server.connections.length, 1);
  assert.equal(server.connections[0]!.heads.length, 1, 'the bad request never reached the server');
});

test('a head split across many writes, with cuts inside the status line and the blank line', async (t) => {
  const body = randomBytes(300);
  const bytes = ok(body, [['ETag', '"split"'], ['x-amz-meta-color', 'blue']]);
  const headEnd = bytes.indexOf('\r\n\r\n') + 4;
  const cuts = [1, 5, 9, 12, 20, headEnd - 3, headEnd - 1, headEnd, headEnd + 1, headEnd + 100];
  const server = await rawServer(
    t,
    serve(async (conn) => {
      let from = 0;
      for (const cut of [...cuts, bytes.length]) {
        await conn.write(bytes.subarray(from, cut));
        from = cut;
        await sleep(3);
      }
    }),
  );
  const { handler } = makeHandler(t);
  const { response: res, body: got } = await fetchWhole(handler, getObject(server.port));
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['x-amz-meta-color'], 'blue');
  assert.deepEqual(got, body);
});

test('a head fed byte by byte', async (t) => {
  const body = Buffer.from('0123456789');
  const bytes = ok(body, [['ETag', '"b"']]);
  const headEnd = bytes.indexOf('\r\n\r\n') + 4;
  const server = await rawServer(
    t,
    serve(async (conn) => {
      for (let i = 0; i < headEnd; i++) {
        await conn.write(bytes.subarray(i, i + 1));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await conn.write(bytes.subarray(headEnd));
    }),
  );
  const { handler } = makeHandler(t);
  const { body: got } = await fetchWhole(handler, getObject(server.port));
  assert.deepEqual(got, body);
});

test('the head and the first body bytes in one write, the rest in many small delayed writes', async (t) => {
  const body = randomBytes(5000);
  const bytes = ok(body);
  const headEnd = bytes.indexOf('\r\n\r\n') + 4;
  const server = await rawServer(
    t,
    serve(async (conn) => {
      await conn.write(bytes.subarray(0, headEnd + 7));
      let at = headEnd + 7;
      let i = 0;
      while (at < bytes.length) {
        const n = 1 + ((i++ * 37) % 200);
        await conn.write(bytes.subarray(at, at + n));
        at += n;
        if (i % 5 === 0) await sleep(1);
      }
    }),
  );
  const { handler } = makeHandler(t);
  const { body: got } = await fetchWhole(handler, getObject(server.port));
  assert.deepEqual(got, body);
});

test('a head longer than the initial 8 KiB head buffer (it grows), with body bytes in the same write', async (t) => {
  const fields: [string, string][] = [];
  for (let i = 0; i < 40; i++) fields.push([`x-amz-meta-k${i}`, String(i).padStart(900, 'v')]);
  const body = randomBytes(20_000);
  const bytes = response('200 OK', [['Content-Length', body.length], ...fields], body);
  assert.ok(bytes.indexOf('\r\n\r\n') > 32 * 1024, 'the head should outgrow two doublings');
  const server = await rawServer(t, serve((conn) => conn.write(bytes)));
  const { handler } = makeHandler(t);
  const { response: res, body: got } = await fetchWhole(handler, getObject(server.port));
  assert.equal(res.headers['x-amz-meta-k39'], '39'.padStart(900, 'v'));
  assert.deepEqual(got, body);
  // And the connection still works for a small head afterwards.
  const again = await fetchWhole(handler, getObject(server.port));
  assert.deepEqual(again.body, body);
  assert.equal(server.connections.length, 1);
});

test('an 8 MiB body of random bytes arrives intact', async (t) => {
  const body = randomBytes(8 * 1024 * 1024);
  const server = await rawServer(t, serve((conn) => conn.write(response('206 Partial Content', [['Content-Length', body.length]], body))));
  const { handler } = makeHandler(t);
  const { body: got } = await fetchWhole(handler, getObject(server.port));
  assert.equal(got.length, body.length);
  assert.ok(got.equals(body), 'the bytes should be identical');
});

test('an empty body (Content-Length: 0) resolves to an empty buffer and keeps the connection', async (t) => {
  const server = await rawServer(t, serve((conn) => conn.write(response('200 OK', [['Content-Length', 0]]))));
  const { handler } = makeHandler(t);
  const first = await fetchWhole(handler, getObject(server.port));
  assert.equal(first.body.length, 0);
  const { response: res } = await handler.handle(getObject(server.port));
  assert.equal((await collect(res.body)).length, 0);
  assert.equal(server.connections.length, 1);
});

test('ReceivedBody read as a stream yields the same bytes as whole', async (t) => {
  const body = randomBytes(1024 * 1024 + 3);
  const server = await rawServer(
    t,
    serve(async (conn) => {
      const bytes = ok(body);
      await conn.write(bytes.subarray(0, 100_000));
      await sleep(5);
      await conn.write(bytes.subarray(100_000));
    }),
  );
  const { handler } = makeHandler(t);
  const { response: res } = await handler.handle(getObject(server.port));
  const streamed = await collect(res.body);
  assert.ok(streamed.equals(body));
  assert.ok((await receivedBody(res).whole).equals(streamed));
});

test('interim 1xx responses before the real one are skipped', async (t) => {
  const body = Buffer.from('after interim');
  const server = await rawServer(
    t,
    serve(async (conn, _head, n) => {
      if (n === 0) {
        await conn.write('HTTP/1.1 100 Continue\r\n\r\n');
        await sleep(5);
        await conn.write('HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\nHTTP/1.1 200 O');
        await sleep(5);
        await conn.write(ok(body).subarray(14));
      } else {
        // All in one write: interim, final head and body.
        await conn.write(Buffer.concat([Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'), ok(body)]));
      }
    }),
  );
  const { handler } = makeHandler(t);
  for (let i = 0; i < 2; i++) {
    const { response: res, body: got } = await fetchWhole(handler, getObject(server.port));
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['link'], undefined);
    assert.deepEqual(got, body);
  }
  assert.equal(server.connections.length, 1);
});

test('an error status (404 with an XML body) comes back with its body readable as a stream', async (t) => {
  const xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>';
  const server = await rawServer(
    t,
    serve((conn) => conn.write(response('404 Not Found', [['Content-Type', 'application/xml'], ['Content-Length', Buffer.byteLength(xml)]], xml))),
  );
  const { handler, fallback } = makeHandler(t);
  const { response: res } = await handler.handle(getObject(server.port));
  assert.equal(res.statusCode, 404);
  assert.equal(res.headers['content-type'], 'application/xml');
  assert.equal((await collect(res.body)).toString(), xml);
  assert.equal(fallback.seen.length, 0);
});

// ---- connections ------------------------------------------------------------------------------

test('keep-alive: two requests in a row share one connection', async (t) => {
  const server = await rawServer(t, serve((conn, head) => conn.write(ok(`you asked for ${requestPath(head)}`))));
  const { handler } = makeHandler(t);
  const a = await fetchWhole(handler, getObject(server.port, { path: '/bucket/a' }));
  const b = await fetchWhole(handler, getObject(server.port, { path: '/bucket/b' }));
  assert.equal(a.body.toString(), 'you asked for /bucket/a?x-id=GetObject');
  assert.equal(b.body.toString(), 'you asked for /bucket/b?x-id=GetObject');
  assert.equal(server.connections.length, 1);
  assert.equal(server.connections[0]!.heads.length, 2);
  assert.deepEqual(handler.connectionCounts(), { open: 1, idle: 1 });
});

test('Connection: close makes the next request open a new connection', async (t) => {
  const server = await rawServer(t, serve((conn) => conn.write(ok('bye', [['Connection', 'close']]))));
  const { handler } = makeHandler(t);
  await fetchWhole(handler, getObject(server.port));
  assert.ok(await within(server.connections[0]!.closed, 2000), 'the client should close the connection');
  assert.deepEqual(handler.connectionCounts(), { open: 0, idle: 0 });
  const { body } = await fetchWhole(handler, getObject(server.port));
  assert.equal(body.toString(), 'bye');
  assert.equal(server.connections.length, 2);
});

test('bytes beyond Content-Length: the body is right and the connection is not reused', async (t) => {
  const server = await rawServer(t, serve((conn) => conn.write(Buffer.concat([ok('exact'), Buffer.from('JUNK')]))));
  const { handler } = makeHandler(t);
  const first = await fetchWhole(handler, getObject(server.port));
  assert.equal(first.body.toString(), 'exact');
  const second = await fetchWhole(handler, getObject(server.port));
  assert.equal(second.body.toString(), 'exact');
  assert.equal(server.connections.length, 2);
});

test('a server that closed an idle kept-alive connection: the next request uses a new one', async (t) => {
  const server = await rawServer(
    t,
    serve(async (conn) => {
      await conn.write(ok('once'));
      conn.socket.end();
    }),
  );
  const { handler, fallback } = makeHandler(t);
  await fetchWhole(handler, getObject(server.port));
  await server.connections[0]!.closed;
  await sleep(20);
  const { body } = await fetchWhole(handler, getObject(server.port));
  assert.equal(body.toString(), 'once');
  assert.equal(server.connections.length, 2);
  assert.equal(fallback.seen.length, 0);
});

test('a kept-alive connection closed as the next request arrives: the request is retried on a new one', async (t) => {
  const server = await rawServer(t, async (conn, index) => {
    for (let n = 0; ; n++) {
      const head = await conn.nextRequest();
      if (head === undefined) return;
      if (index === 0 && n === 1) {
        conn.socket.destroy(); // the race: the server gave up on the connection just as the request came
        return;
      }
      await conn.write(ok(`conn ${index} req ${n}`));
    }
  });
  const { handler, fallback } = makeHandler(t);
  assert.equal((await fetchWhole(handler, getObject(server.port))).body.toString(), 'conn 0 req 0');
  assert.equal((await fetchWhole(handler, getObject(server.port))).body.toString(), 'conn 1 req 0');
  assert.equal(server.connections.length, 2);
  assert.equal(server.connections[0]!.heads.length, 2);
  assert.equal(fallback.seen.length, 0);
});

test('a new connection closed before any response is not retried: ECONNRESET', async (t) => {
  const server = await rawServer(
    t,
    serve((conn) => {
      conn.socket.destroy();
    }),
  );
  const { handler } = makeHandler(t);
  await assert.rejects(handler.handle(getObject(server.port)), { code: 'ECONNRESET' });
  assert.equal(server.connections.length, 1);
  assert.deepEqual(handler.connectionCounts(), { open: 0, idle: 0 });
});

test('maxSockets 2: five concurrent requests never hold more than two connections, and all succeed', async (t) => {
  const server = await rawServer(
    t,
    serve(async (conn, head) => {
      await sleep(20);
      await conn.write(ok(`body of ${requestPath(head)}`));
    }),
  );
  const { handler } = makeHandler(t, { maxSockets: 2 });
  const results = await Promise.all(
    [0, 1, 2, 3, 4].map((i) => fetchWhole(handler, getObject(server.port, { path: `/bucket/k${i}` }))),
  );
  results.forEach((r, i) => assert.equal(r.body.toString(), `body of /bucket/k${i}?x-id=GetObject`));
  assert.equal(server.maxOpen, 2);
  assert.equal(server.connections.length, 2);
  assert.equal(server.connections.reduce((n, c) => n + c.heads.length, 0), 5);
});

test('connection refused: rejects with ECONNREFUSED and leaves no connection counted', async (t) => {
  const port = await closedPort();
  const { handler } = makeHandler(t);
  await assert.rejects(handler.handle(getObject(port)), { code: 'ECONNREFUSED' });
  assert.deepEqual(handler.connectionCounts(), { open: 0, idle: 0 });
});

test(
  'destroy() while a body is arriving: its connection is closed once the body is done',
  async (t) => {
    let finish!: () => void;
    const go = new Promise<void>((resolve) => (finish = resolve));
    const server = await rawServer(
      t,
      serve(async (conn) => {
        const bytes = ok('0123456789');
        await conn.write(bytes.subarray(0, bytes.length - 5));
        await go;
        await conn.write(bytes.subarray(bytes.length - 5));
      }),
    );
    const fallback = new CountingFallback({});
    const handler = new DirectGetHandler({ fallback, maxSockets: 2, connectTimeoutMs: 2000, idleTimeoutMs: 3000, keepAliveMs: 60_000 });
    t.after(() => handler.destroy());
    const { response: res } = await handler.handle(getObject(server.port));
    handler.destroy();
    finish();
    assert.equal((await receivedBody(res).whole).toString(), '0123456789');
    assert.ok(await within(server.connections[0]!.closed, 1000), 'the connection should be closed, not kept for 60 s');
  },
);

// ---- fallback ---------------------------------------------------------------------------------

test('a chunked GetObject response: the request is sent again through the fallback and succeeds', async (t) => {
  const { port, requests } = await httpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.write('chunk one, ');
    res.end('chunk two');
  });
  const { handler, fallback } = makeHandler(t);
  const { response: res } = await handler.handle(getObject(port));
  assert.equal(res.statusCode, 200);
  assert.ok(!(res.body instanceof ReceivedBody), 'the fallback body is a plain stream');
  assert.equal((await collect(res.body)).toString(), 'chunk one, chunk two');
  assert.equal(fallback.seen.length, 1);
  assert.equal(requests.length, 2, 'once directly (answer discarded), once through the fallback');
  assert.equal(requests[0]!.url, requests[1]!.url);
  assert.deepEqual(handler.connectionCounts(), { open: 0, idle: 0 });
});

test('a GetObject response ended by closing (no Content-Length) goes through the fallback', async (t) => {
  const body = randomBytes(3000);
  const server = await rawServer(
    t,
    serve(async (conn) => {
      await conn.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n'), body]));
      conn.socket.end();
    }),
  );
  const { handler, fallback } = makeHandler(t);
  const { response: res } = await handler.handle(getObject(server.port));
  assert.equal(res.statusCode, 200);
  assert.ok((await collect(res.body)).equals(body));
  assert.equal(fallback.seen.length, 1);
  assert.equal(server.connections.length, 2);
});

test('requests other than GetObject go to the fallback', async (t) => {
  const { port, requests } = await httpServer(t, (req, res) => {
    res.setHeader('content-length', req.method === 'HEAD' ? '42' : '2');
    res.end(req.method === 'HEAD' ? undefined : 'ok');
  });
  const { handler, fallback } = makeHandler(t);
  const head = await handler.handle(getObject(port, { method: 'HEAD' }));
  assert.equal(head.response.statusCode, 200);
  assert.equal(head.response.headers['content-length'], '42');
  const list = await handler.handle(getObject(port, { path: '/bucket', query: { 'list-type': '2', prefix: 'a/' } }));
  assert.equal((await collect(list.response.body)).toString(), 'ok');
  const put = await handler.handle(
    getObject(port, { method: 'PUT', query: { 'x-id': 'PutObject' }, headers: { host: `127.0.0.1:${port}`, 'content-length': '5' }, body: 'hello' }),
  );
  await collect(put.response.body);
  assert.equal(fallback.seen.length, 3);
  assert.deepEqual(
    requests.map((r) => [r.method, r.url, r.body]),
    [
      ['HEAD', '/bucket/some%20key?x-id=GetObject', ''],
      ['GET', '/bucket?list-type=2&prefix=a%2F', ''],
      ['PUT', '/bucket/some%20key?x-id=PutObject', 'hello'],
    ],
  );
  assert.deepEqual(handler.connectionCounts(), { open: 0, idle: 0 }, 'no direct connection was opened');
});

// ---- failures ---------------------------------------------------------------------------------

test('abort while the body is arriving: whole rejects with AbortError and the socket is closed', async (t) => {
  const server = await rawServer(
    t,
    serve(async (conn) => {
      const bytes = response('200 OK', [['Content-Length', 1000]], randomBytes(400));
      await conn.write(bytes); // 400 of 1000 body bytes, then nothing
    }),
  );
  const { handler } = makeHandler(t);
  const ac = new AbortController();
  const { response: res } = await handler.handle(getObject(server.port), { abortSignal: ac.signal });
  ac.abort();
  await assert.rejects(receivedBody(res).whole, { name: 'AbortError' });
  assert.ok(await within(server.connections[0]!.closed, 2000), 'the server should see the connection close');
  assert.deepEqual(handler.connectionCounts(), { open: 0, idle: 0 });
});

test('abort while waiting for the response head: handle() rejects with AbortError, not retried', async (t) => {
  const server = await rawServer(t, serve(() => new Promise<void>(() => undefined)));
  const { handler } = makeHandler(t);
  const ac = new AbortController();
  const pending = handler.handle(getObject(server.port), { abortSignal: ac.signal });
  while (server.connections[0]?.heads.length !== 1) await sleep(2);
  ac.abort();
  await assert.rejects(pending, { name: 'AbortError' });
  assert.ok(await within(server.connections[0]!.closed, 2000));
  assert.equal(server.connections.length, 1);
});

test('aborted before sending: rejects with AbortError and connects nowhere', async (t) => {
  const server = await rawServer(t, serve((conn) => conn.write(ok('x'))));
  const { handler } = makeHandler(t);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(handler.handle(getObject(server.port), { abortSignal: ac.signal }), { name: 'AbortError' });
  await sleep(20);
  assert.equal(server.connections.length, 0);
});

test('abort while waiting for a free connection (maxSockets 1): rejects; the busy request still completes', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const server = await rawServer(
    t,
    serve(async (conn, _head, n) => {
      if (n === 0) await gate;
      await conn.write(ok(`answer ${n}`));
    }),
  );
  const { handler } = makeHandler(t, { maxSockets: 1 });
  const first = fetchWhole(handler, getObject(server.port));
  const ac = new AbortController();
  const second = handler.handle(getObject(server.port), { abortSignal: ac.signal });
  await sleep(10);
  ac.abort();
  await assert.rejects(second, { name: 'AbortError' });
  release();
  assert.equal((await first).body.toString(), 'answer 0');
  assert.equal((await fetchWhole(handler, getObject(server.port))).body.toString(), 'answer 1');
  assert.equal(server.connections.length, 1);
});

test(
  'abort while the connection is being established: rejects with AbortError',
  async (t) => {
    const server = await rawServer(t, serve((conn) => conn.write(ok('should not be read'))));
    const { handler } = makeHandler(t);
    const ac = new AbortController();
    const pending = handler.handle(getObject(server.port), { abortSignal: ac.signal });
    ac.abort(); // handle() is now awaiting the TCP connect
    await assert.rejects(pending, { name: 'AbortError' });
  },
);

test(
  'abort right after handle() on a reused connection: rejects with AbortError',
  async (t) => {
    const server = await rawServer(t, serve((conn) => conn.write(ok('data'))));
    const { handler } = makeHandler(t);
    await fetchWhole(handler, getObject(server.port));
    const ac = new AbortController();
    const pending = handler.handle(getObject(server.port), { abortSignal: ac.signal });
    ac.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    assert.equal(server.connections[0]!.heads.length, 1, 'the aborted request should not be sent');
  },
);

test('destroying the ReceivedBody stream while the body arrives closes the connection', async (t) => {
  const server = await rawServer(t, serve((conn) => conn.write(response('200 OK', [['Content-Length', 100]], 'partial'))));
  const { handler } = makeHandler(t);
  const { response: res } = await handler.handle(getObject(server.port));
  const body = receivedBody(res);
  body.destroy();
  await assert.rejects(body.whole, { name: 'AbortError' });
  assert.ok(await within(server.connections[0]!.closed, 2000));
});

test('idle timeout: the server stalls mid-body, whole rejects with TimeoutError', async (t) => {
  const server = await rawServer(t, serve((conn) => conn.write(response('200 OK', [['Content-Length', 100]], 'only a part'))));
  const { handler } = makeHandler(t, { idleTimeoutMs: 200 });
  const { response: res } = await handler.handle(getObject(server.port));
  await assert.rejects(receivedBody(res).whole, { name: 'TimeoutError' });
  assert.ok(await within(server.connections[0]!.closed, 2000));
});

test('idle timeout: no response head at all on a new connection, handle() rejects with TimeoutError', async (t) => {
  const server = await rawServer(t, serve(() => new Promise<void>(() => undefined)));
  const { handler } = makeHandler(t, { idleTimeoutMs: 200 });
  await assert.rejects(handler.handle(getObject(server.port)), { name: 'TimeoutError' });
  assert.equal(server.connections.length, 1);
});

test(
  'idle timeout waiting for the head on a reused connection: the request is not sent again',
  async (t) => {
    const server = await rawServer(
      t,
      serve(async (conn, _head, n) => {
        if (n === 0 && conn === server.connections[0]) await conn.write(ok('first'));
        else await new Promise<void>(() => undefined);
      }),
    );
    const { handler } = makeHandler(t, { idleTimeoutMs: 200 });
    await fetchWhole(handler, getObject(server.port));
    await assert.rejects(handler.handle(getObject(server.port)), { name: 'TimeoutError' });
    const sent = server.connections.reduce((n, c) => n + c.heads.length, 0);
    assert.equal(sent, 2, 'the request that timed out should have been sent once');
  },
);

test('the server closes mid-body: whole rejects with ECONNRESET', async (t) => {
  const server = await rawServer(
    t,
    serve(async (conn) => {
      await conn.write(response('200 OK', [['Content-Length', 5000]], randomBytes(1234)));
      conn.socket.end();
    }),
  );
  const { handler } = makeHandler(t);
  const { response: res } = await handler.handle(getObject(server.port));
  await assert.rejects(receivedBody(res).whole, { code: 'ECONNRESET' });
  await assert.rejects(collect(res.body), { code: 'ECONNRESET' });
  assert.deepEqual(handler.connectionCounts(), { open: 0, idle: 0 });
});

test('the server closes halfway through the head: rejects with ECONNRESET, not retried', async (t) => {
  const server = await rawServer(
    t,
    serve(async (conn) => {
      await conn.write('HTTP/1.1 200 OK\r\nContent-Le');
      conn.socket.end();
    }),
  );
  const { handler } = makeHandler(t);
  await assert.rejects(handler.handle(getObject(server.port)), { code: 'ECONNRESET' });
  assert.equal(server.connections.length, 1);
});

test('garbage instead of a status line: handle() rejects with HttpHeadError', async (t) => {
  const server = await rawServer(t, serve((conn) => conn.write('SSH-2.0-OpenSSH_9.6\r\nwhatever\r\n\r\nmore')));
  const { handler, fallback } = makeHandler(t);
  await assert.rejects(handler.handle(getObject(server.port)), HttpHeadError);
  assert.equal(server.connections.length, 1);
  assert.equal(fallback.seen.length, 0);
  assert.deepEqual(handler.connectionCounts(), { open: 0, idle: 0 });
});

test('a bad Content-Length: handle() rejects with HttpHeadError', async (t) => {
  const server = await rawServer(t, serve((conn) => conn.write('HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n')));
  const { handler } = makeHandler(t);
  await assert.rejects(handler.handle(getObject(server.port)), HttpHeadError);
});

test('a response head over 64 KiB: handle() rejects with HttpHeadError', async (t) => {
  const server = await rawServer(
    t,
    serve(async (conn) => {
      let head = 'HTTP/1.1 200 OK\r\n';
      for (let i = 0; head.length < 70 * 1024; i++) head += `x-amz-meta-f${i}: ${'v'.repeat(100)}\r\n`;
      await conn.write(head); // no blank line: the head never ends
    }),
  );
  const { handler } = makeHandler(t);
  await assert.rejects(handler.handle(getObject(server.port)), (err: Error) => {
    assert.ok(err instanceof HttpHeadError, `expected HttpHeadError, got ${err.name}: ${err.message}`);
    assert.match(err.message, /longer than/);
    return true;
  });
  assert.ok(await within(server.connections[0]!.closed, 2000));
});

test('unsolicited bytes on an idle connection: it is dropped, the next request uses a new one', async (t) => {
  const server = await rawServer(
    t,
    serve(async (conn, _head, n) => {
      await conn.write(ok(`r${n}`));
      if (n === 0 && conn === server.connections[0]) {
        await sleep(10);
        await conn.write('HTTP/1.1 200 OK\r\n'); // nobody asked
      }
    }),
  );
  const { handler } = makeHandler(t);
  assert.equal((await fetchWhole(handler, getObject(server.port))).body.toString(), 'r0');
  assert.ok(await within(server.connections[0]!.closed, 2000), 'the client should drop the connection');
  assert.equal((await fetchWhole(handler, getObject(server.port))).body.toString(), 'r0');
  assert.equal(server.connections.length, 2);
});

// ---- TLS --------------------------------------------------------------------------------------

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** A self-signed certificate for 127.0.0.1 and localhost, made in a temporary directory. */
function selfSigned(t: TestContext): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(path.join(tmpdir(), 's3nfs-direct-get-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile],
    { stdio: 'ignore', timeout: 30_000 },
  );
  return { key: readFileSync(keyFile), cert: readFileSync(certFile) };
}

test('TLS: bodies arrive intact over https, split writes and keep-alive included', async (t) => {
  if (!hasOpenssl()) {
    t.skip('openssl is not installed: cannot make a certificate for the TLS test');
    return;
  }
  const { key, cert } = selfSigned(t);
  const body = randomBytes(3 * 1024 * 1024 + 17);
  const server = await RawServer.start(
    serve(async (conn, _head, n) => {
      const bytes = ok(n === 0 ? body : 'second');
      const headEnd = bytes.indexOf('\r\n\r\n') + 4;
      await conn.write(bytes.subarray(0, headEnd - 2));
      await sleep(3);
      await conn.write(bytes.subarray(headEnd - 2, headEnd + 5));
      await sleep(3);
      await conn.write(bytes.subarray(headEnd + 5));
    }),
    { key, cert },
  );
  t.after(() => server.close());
  const { handler } = makeHandler(t, { tls: { ca: cert } });
  const first = await fetchWhole(handler, getObject(server.port, { protocol: 'https:' }));
  assert.equal(first.response.statusCode, 200);
  assert.ok(first.body.equals(body), 'the bytes should be identical');
  const second = await fetchWhole(handler, getObject(server.port, { protocol: 'https:' }));
  assert.equal(second.body.toString(), 'second');
  assert.equal(server.connections.length, 1);
  assert.equal(
    server.connections[0]!.heads[0],
    `GET /bucket/some%20key?x-id=GetObject HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\nrange: bytes=0-9\r\n\r\n`,
  );
});

test('TLS: a certificate from an unknown CA is refused', async (t) => {
  if (!hasOpenssl()) {
    t.skip('openssl is not installed: cannot make a certificate for the TLS test');
    return;
  }
  const { key, cert } = selfSigned(t);
  const server = await RawServer.start(serve((conn) => conn.write(ok('secret'))), { key, cert });
  t.after(() => server.close());
  const { handler } = makeHandler(t);
  await assert.rejects(handler.handle(getObject(server.port, { protocol: 'https:' })), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  assert.deepEqual(handler.connectionCounts(), { open: 0, idle: 0 });
});

test(
  'connect timeout (a TLS handshake that never completes): rejects with ETIMEDOUT',
  async (t) => {
    const server = await rawServer(t, () => undefined); // accepts TCP, never speaks TLS
    const { handler } = makeHandler(t, { connectTimeoutMs: 200 });
    await assert.rejects(handler.handle(getObject(server.port, { protocol: 'https:' })), { code: 'ETIMEDOUT' });
  },
);

test('connect timeout: whatever the error, the connection slot is given back', async (t) => {
  const server = await rawServer(t, () => undefined);
  const { handler } = makeHandler(t, { connectTimeoutMs: 200, maxSockets: 1 });
  await assert.rejects(handler.handle(getObject(server.port, { protocol: 'https:' })));
  await assert.rejects(handler.handle(getObject(server.port, { protocol: 'https:' })));
  assert.equal(server.connections.length, 2, 'the second request could open a connection');
  assert.deepEqual(handler.connectionCounts(), { open: 0, idle: 0 });
});
