#!/usr/bin/env node
// A byte relay between two socket endpoints, used to let a process inside the test's network namespace reach
// a TCP service on the host's loopback (the S3 server): one relay runs inside the namespace and listens on
// tcp:127.0.0.1:PORT, the other runs on the host and listens on a unix socket. Filesystem unix sockets are not
// bound to a network namespace, so the file in between joins the two.
//
// Usage: node relay.mjs LISTEN CONNECT      (each endpoint is tcp:HOST:PORT or unix:PATH)
// Prints "ready" on stdout once it listens. Each accepted connection gets its own outgoing connection;
// half-closes are passed on, and an error on either side closes both.
// Plain JavaScript (not TypeScript) so the harness runs without a build step.
import net from 'node:net';
import fs from 'node:fs';

/** @param {string} spec */
function parseEndpoint(spec) {
  if (spec.startsWith('unix:')) return { path: spec.slice('unix:'.length) };
  const m = /^tcp:(.+):(\d+)$/.exec(spec);
  if (m) return { host: m[1], port: Number(m[2]) };
  throw new Error(`relay: bad endpoint ${JSON.stringify(spec)} (want tcp:HOST:PORT or unix:PATH)`);
}

const [listenSpec, connectSpec] = process.argv.slice(2);
if (!listenSpec || !connectSpec) {
  process.stderr.write('usage: relay.mjs LISTEN CONNECT (tcp:HOST:PORT | unix:PATH)\n');
  process.exit(2);
}
const listenAt = parseEndpoint(listenSpec);
const connectTo = parseEndpoint(connectSpec);

const server = net.createServer({ allowHalfOpen: true }, (inbound) => {
  const outbound = net.connect({ ...connectTo, allowHalfOpen: true });
  const closeBoth = () => {
    inbound.destroy();
    outbound.destroy();
  };
  inbound.on('error', closeBoth);
  outbound.on('error', closeBoth);
  // A side that closed cleanly has already passed its EOF on through pipe(); end() lets the other side flush
  // what it still holds instead of dropping it.
  inbound.on('close', () => outbound.end());
  outbound.on('close', () => inbound.end());
  inbound.pipe(outbound);
  outbound.pipe(inbound);
});

if ('path' in listenAt) fs.rmSync(listenAt.path, { force: true });
server.on('error', (err) => {
  process.stderr.write(`relay: ${err.message}\n`);
  process.exit(1);
});
server.listen(listenAt, () => process.stdout.write('ready\n'));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
