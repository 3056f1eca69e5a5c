// The serve flags added for Mountpoint compatibility and for serving safely: --prefix, --part-size,
// the S3 request options, --log-directory, --allow-client (repeatable, checked against --listen)
// and --portmap; how they come through -o and config files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import yargs from 'yargs';
import { withConfigFile } from '../../../src/cli/config-file.js';
import { expandMountOptions } from '../../../src/cli/mount-options.js';
import {
  allowsEveryone,
  joinRepeatedFlags,
  parseSize,
  serveFlags,
  toServeConfig,
  UsageError,
  type ServeConfig,
} from '../../../src/cli/serve-options.js';

const MiB = 1024 * 1024;

/** Parses a `serve` command line as main.ts does (-o expansion, repeated flags joined). */
async function parse(args: string[]): Promise<ServeConfig> {
  let config: ServeConfig | undefined;
  await yargs(joinRepeatedFlags(expandMountOptions(['serve', ...args])))
    .command(
      'serve [target]',
      'serve',
      (y) => withConfigFile(serveFlags(y)),
      (a) => {
        config = toServeConfig(a);
      },
    )
    .strict()
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .parseAsync();
  assert.ok(config);
  return config;
}

test('defaults: loopback, no allow-list, portmap auto, signed requests, no S3 extras', async () => {
  const c = await parse(['b']);
  assert.equal(c.listen, '127.0.0.1');
  assert.deepEqual(c.allowClients, []);
  assert.equal(c.portmap, 'auto');
  assert.equal(c.noSignRequest, false);
  assert.equal(c.requesterPays, false);
  assert.equal(c.readPartSize, 16 * MiB);
  assert.equal(c.writePartSize, 8 * MiB);
  for (const k of ['storageClass', 'sse', 'sseKmsKeyId', 'expectedBucketOwner', 'logDirectory'] as const) {
    assert.equal(k in c, false, `${k} is absent by default`);
  }
});

test('--prefix is the other way to name a prefix; giving both is an error', async () => {
  const c = await parse(['photos', '--prefix', 'raw/2024']);
  assert.equal(c.bucket, 'photos');
  assert.equal(c.prefix, 'raw/2024/');
  assert.equal((await parse(['photos', '--prefix', 'raw/'])).prefix, 'raw/');
  await assert.rejects(parse(['photos/a', '--prefix', 'b']), (e: unknown) => e instanceof UsageError && /not both/.test(e.message));
  await assert.rejects(parse(['photos', '--prefix', 'a/../b']), /"\.\." component/);
});

test('--part-size takes bytes like Mountpoint (or a K/M/G suffix) and sets both part sizes', async () => {
  const c = await parse(['b', '--part-size', String(12 * MiB)]);
  assert.equal(c.readPartSize, 12 * MiB);
  assert.equal(c.writePartSize, 12 * MiB);
  assert.equal((await parse(['b', '--part-size', '32M'])).writePartSize, 32 * MiB);
  assert.equal((await parse(['b', '--part-size', '1GiB'])).readPartSize, 1024 * MiB);
  assert.equal(parseSize('x', '64k'), 64 * 1024);
  await assert.rejects(parse(['b', '--part-size', '8']), /whole number of MiB from 5M to 1024M/);
  await assert.rejects(parse(['b', '--part-size', String(5 * MiB + 1)]), /whole number of MiB/);
  await assert.rejects(parse(['b', '--part-size', '2G']), /from 5M to 1024M/);
  await assert.rejects(parse(['b', '--part-size', 'lots']), /not a size/);
});

test('S3 request options reach the config: storage class, SSE, requester pays, owner, unsigned', async () => {
  const c = await parse([
    'b',
    '--storage-class',
    'STANDARD_IA',
    '--sse',
    'aws:kms',
    '--sse-kms-key-id',
    'arn:aws:kms:us-east-1:111122223333:key/abc',
    '--requester-pays',
    '--expected-bucket-owner',
    '111122223333',
    '--no-sign-request',
  ]);
  assert.equal(c.storageClass, 'STANDARD_IA');
  assert.equal(c.sse, 'aws:kms');
  assert.equal(c.sseKmsKeyId, 'arn:aws:kms:us-east-1:111122223333:key/abc');
  assert.equal(c.requesterPays, true);
  assert.equal(c.expectedBucketOwner, '111122223333');
  assert.equal(c.noSignRequest, true);
  await assert.rejects(parse(['b', '--sse-kms-key-id', 'k']), /needs --sse aws:kms/);
  await assert.rejects(parse(['b', '--sse', 'AES256', '--sse-kms-key-id', 'k']), /needs --sse aws:kms/);
  await assert.rejects(parse(['b', '--sse', 'rot13']), /Invalid values/);
  await assert.rejects(parse(['b', '--storage-class', 'cheap please']), /not a storage class name/);
});

test('-l / --log-directory names a directory (made absolute)', async () => {
  assert.equal((await parse(['b', '-l', '/var/log/s3nfs'])).logDirectory, '/var/log/s3nfs');
  assert.match((await parse(['b', '--log-directory', 'logs'])).logDirectory ?? '', /^\/.*\/logs$/);
});

test('--portmap takes on, off or auto', async () => {
  assert.equal((await parse(['b', '--portmap', 'off'])).portmap, 'off');
  assert.equal((await parse(['b', '--portmap', 'on'])).portmap, 'on');
  await assert.rejects(parse(['b', '--portmap', 'maybe']), /Invalid values/);
});

test('--allow-client may be repeated or comma-separated; addresses and ranges are checked', async () => {
  const c = await parse(['b', '--allow-client', '10.0.0.0/8', '--allow-client=192.168.1.7', '--allow-client', 'fd00::/8,10.1.2.3/32']);
  assert.deepEqual(
    c.allowClients.map((r) => r.text),
    ['10.0.0.0/8', '192.168.1.7/32', 'fd00::/8', '10.1.2.3/32'],
  );
  assert.equal(allowsEveryone(c.allowClients), false);
  await assert.rejects(parse(['b', '--allow-client', '10.0.0.0/33']), /prefix length must be a whole number from 0 to 32/);
  await assert.rejects(parse(['b', '--allow-client', 'example.com']), /not an IP address or CIDR range/);
  assert.throws(() => joinRepeatedFlags(['serve', 'b', '--allow-client']), /needs a value/);
});

test('listening beyond loopback needs --allow-client; 0.0.0.0/0 must be said explicitly', async () => {
  await assert.rejects(
    parse(['b', '--listen', '0.0.0.0']),
    (e: unknown) => e instanceof UsageError && /--listen 0\.0\.0\.0 would serve beyond this machine.*--allow-client 0\.0\.0\.0\/0/.test(e.message),
  );
  await assert.rejects(parse(['b', '--listen', '192.168.1.10']), /--allow-client/);
  await assert.rejects(parse(['b', '--listen', '::']), /--allow-client/);
  for (const loopback of ['127.0.0.1', '127.0.0.53', '::1', 'localhost']) {
    assert.deepEqual((await parse(['b', '--listen', loopback])).allowClients, [], loopback);
  }
  const lan = await parse(['b', '--listen', '0.0.0.0', '--allow-client', '192.168.1.0/24']);
  assert.equal(lan.allowClients[0]?.text, '192.168.1.0/24');
  const everyone = await parse(['b', '--listen', '0.0.0.0', '--allow-client', '0.0.0.0/0']);
  assert.equal(allowsEveryone(everyone.allowClients), true);
});

test('the new options work as mount options (-o) too, a quoted list keeping its commas', async () => {
  const c = await parse([
    'b',
    '-o',
    'listen=0.0.0.0,allow_client="10.0.0.0/8,10.9.9.9",portmap=off,part_size=32M,no_sign_request,requester_pays',
  ]);
  assert.deepEqual(
    c.allowClients.map((r) => r.text),
    ['10.0.0.0/8', '10.9.9.9/32'],
  );
  assert.equal(c.portmap, 'off');
  assert.equal(c.readPartSize, 32 * MiB);
  assert.equal(c.noSignRequest, true);
  assert.equal(c.requesterPays, true);
});
