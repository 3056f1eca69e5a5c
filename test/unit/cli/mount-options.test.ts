import { test } from 'node:test';
import assert from 'node:assert/strict';
import yargs from 'yargs';
import { expandMountOptions, parseMountOptions } from '../../../src/cli/mount-options.js';
import { serveFlags, toServeConfig, UsageError, type ServeConfig } from '../../../src/cli/serve-options.js';

async function parseServe(args: string[]): Promise<ServeConfig> {
  let config: ServeConfig | undefined;
  await yargs(args)
    .command(
      'serve <target>',
      'serve',
      (y) => serveFlags(y),
      (a) => {
        config = toServeConfig(a);
      },
    )
    .strict()
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .parseAsync();
  assert.ok(config);
  return config;
}

test('ro, rw, booleans, no- negation and valued options become serve flags', () => {
  assert.deepEqual(parseMountOptions('ro').argv, ['--read-only']);
  assert.deepEqual(parseMountOptions('rw').argv, ['--no-read-only']);
  assert.deepEqual(parseMountOptions('allow_delete,allow-overwrite,no-insecure,no_debug').argv, [
    '--allow-delete',
    '--allow-overwrite',
    '--no-insecure',
    '--no-debug',
  ]);
  assert.deepEqual(parseMountOptions('uid=1000,gid=100,file_mode=0644,dir-mode=0755,metadata_ttl=indefinite').argv, [
    '--uid=1000',
    '--gid=100',
    '--file-mode=0644',
    '--dir-mode=0755',
    '--metadata-ttl=indefinite',
  ]);
  assert.deepEqual(parseMountOptions('allow_delete=false,read_only=yes').argv, ['--no-allow-delete', '--read-only']);
});

test('values keep "=" and ":"; double quotes protect commas', () => {
  assert.deepEqual(parseMountOptions('endpoint_url=http://127.0.0.1:7480/a?b=c=d,region=us-east-1').argv, [
    '--endpoint-url=http://127.0.0.1:7480/a?b=c=d',
    '--region=us-east-1',
  ]);
  assert.deepEqual(parseMountOptions('profile="a,b",uid=1').argv, ['--profile=a,b', '--uid=1']);
  assert.throws(() => parseMountOptions('profile="a,b'), /unterminated quote/);
});

test('options for the kernel, mount(8) and systemd are ignored and reported', () => {
  const r = parseMountOptions(
    'defaults,_netdev,nofail,noauto,user,x-systemd.requires=s3nfs@b.service,x-systemd.automount,comment=x,noatime,ro',
  );
  assert.deepEqual(r.argv, ['--read-only']);
  assert.deepEqual(r.ignored, [
    'defaults',
    '_netdev',
    'nofail',
    'noauto',
    'user',
    'x-systemd.requires=s3nfs@b.service',
    'x-systemd.automount',
    'comment=x',
    'noatime',
  ]);
  assert.deepEqual(parseMountOptions('').argv, []);
  assert.deepEqual(parseMountOptions(' ro , ,uid=1,').argv, ['--read-only', '--uid=1']);
});

test('the last mention of a flag wins, so each flag appears once', () => {
  assert.deepEqual(parseMountOptions('ro,uid=1,rw,uid=2').argv, ['--no-read-only', '--uid=2']);
  assert.deepEqual(parseMountOptions('read-only,rw').argv, ['--no-read-only']);
});

test('unknown or malformed options are errors naming the option', () => {
  const cases: [string, string][] = [
    ['ro,bogus', '-o: unknown mount option "bogus"'],
    ['allow_delte', '-o: unknown mount option "allow_delte" (did you mean "allow-delete"?)'],
    ['vers=3', '-o: unknown mount option "vers"'],
    ['no-uid', '-o: unknown mount option "no-uid" (did you mean "uid"?)'],
    ['uid', '-o uid: needs a value (uid=…)'],
    ['uid=abc', '-o uid=abc: expected a number, got "abc"'],
    ['ro=1', '-o ro=1: "ro" takes no value'],
    ['no-debug=true', '-o no-debug=true: "no-debug" takes no value'],
    ['debug=maybe', '-o debug=maybe: expected debug, no-debug or debug=true|false'],
    ['log_format=xml', '-o log_format=xml: "xml" is not one of: logfmt, json'],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => parseMountOptions(options), (err: unknown) => {
      assert.ok(err instanceof UsageError, options);
      assert.equal(err.message, message);
      return true;
    });
  }
});

test('expandMountOptions replaces -o in a command line and leaves the rest alone', () => {
  assert.deepEqual(expandMountOptions(['serve', 'b', '-o', 'ro,uid=5', '--port', '2050']), [
    'serve',
    'b',
    '--read-only',
    '--uid=5',
    '--port',
    '2050',
  ]);
  assert.deepEqual(expandMountOptions(['serve', '-oallow_delete', 'b']), ['serve', '--allow-delete', 'b']);
  assert.deepEqual(expandMountOptions(['serve', 'b', '--', '-o', 'x']), ['serve', 'b', '--', '-o', 'x']);
  assert.throws(() => expandMountOptions(['serve', 'b', '-o']), /-o needs a list of options/);
});

test('the expanded flags parse into the ServeConfig the options describe', async () => {
  const argv = expandMountOptions([
    'serve',
    'photos/raw',
    '-o',
    '_netdev,ro,allow_delete,uid=1000,gid=1000,file_mode=0640,endpoint_url=http://127.0.0.1:7480,metadata_ttl=60,x-systemd.requires=s3nfs@photos.service',
  ]);
  const c = await parseServe(argv);
  assert.equal(c.bucket, 'photos');
  assert.equal(c.prefix, 'raw/');
  assert.equal(c.readOnly, true);
  assert.equal(c.allowDelete, true);
  assert.equal(c.uid, 1000);
  assert.equal(c.gid, 1000);
  assert.equal(c.fileMode, 0o640);
  assert.equal(c.endpointUrl, 'http://127.0.0.1:7480');
  assert.equal(c.metadataTtlMs, 60_000);
  const rw = await parseServe(expandMountOptions(['serve', 'b', '-o', 'rw']));
  assert.equal(rw.readOnly, false);
});
