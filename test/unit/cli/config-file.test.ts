import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import yargs from 'yargs';
import {
  ConfigFileError,
  configFromJson,
  configFromYaml,
  loadConfigFile,
  parseFlatYaml,
  serveFlagSpec,
  withConfigFile,
} from '../../../src/cli/config-file.js';
import { serveFlags, toServeConfig, UsageError, type ServeConfig } from '../../../src/cli/serve-options.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 's3nfs-config-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Parses a `serve` command line the way the CLI does (with `[target]` so a file can name it). */
async function parseServe(args: string[]): Promise<ServeConfig> {
  let config: ServeConfig | undefined;
  await yargs(args)
    .command(
      'serve [target]',
      'serve',
      (y) => withConfigFile(serveFlags(y)),
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

test('the flag spec is read from the serve flags yargs declares', () => {
  const spec = serveFlagSpec();
  assert.deepEqual(spec.get('read-only'), { kind: 'boolean' });
  assert.deepEqual(spec.get('uid'), { kind: 'number' });
  assert.deepEqual(spec.get('file-mode'), { kind: 'string' });
  assert.deepEqual(spec.get('log-format'), { kind: 'string', choices: ['logfmt', 'json'] });
  assert.ok(spec.has('target'));
  assert.ok(!spec.has('help'));
  assert.ok(!spec.has('version'));
});

test('YAML: flat keys in either spelling, comments, quoted strings, booleans and numbers', () => {
  const yaml = [
    '# s3nfs options',
    '---',
    'target: my-bucket/photos/',
    'endpoint_url: http://127.0.0.1:7480/path?x=a=b   # a comment',
    'read-only: yes',
    'allow_delete: false',
    'uid: 1000',
    'file_mode: 0644',
    "dir-mode: '0750'",
    'metadata-ttl: 1.5',
    'profile: "team \\"a\\" #1"',
    'region: us-east-1#not-a-comment',
    'log_format: json',
    'publish-delay: 2e1',
    '',
  ].join('\n');
  assert.deepEqual(configFromYaml(yaml, 'c.yaml'), {
    target: 'my-bucket/photos/',
    'endpoint-url': 'http://127.0.0.1:7480/path?x=a=b',
    'read-only': true,
    'allow-delete': false,
    uid: 1000,
    'file-mode': '0644',
    'dir-mode': '0750',
    'metadata-ttl': '1.5',
    profile: 'team "a" #1',
    region: 'us-east-1#not-a-comment',
    'log-format': 'json',
    'publish-delay': 20,
  });
});

test('YAML: quoted strings unescape; a string flag keeps words YAML would read as booleans', () => {
  const out = configFromYaml(
    ['profile: no', `region: 'it''s'`, 'state-dir: "/var/lib/s3nfs/\\u00e9\\t\\x41"', "listen: '::1'"].join('\r\n'),
    'c.yaml',
  );
  assert.deepEqual(out, { profile: 'no', region: "it's", 'state-dir': '/var/lib/s3nfs/\u00e9\tA', listen: '::1' });
});

test('YAML: anything beyond the flat subset is an error naming the file and line', () => {
  const cases: [string, RegExp][] = [
    ['uid: 1\n  gid: 2', /^c\.yaml:2: indented lines are not supported/],
    ['s3:\n  region: x', /^c\.yaml:1: no value: nested mappings are not supported/],
    ['- read-only', /^c\.yaml:1: lists are not supported/],
    ['uid: [1, 2]', /^c\.yaml:1: flow collections/],
    ['{"uid": 1}', /^c\.yaml:1: flow collections .*use a \.json file/],
    ['region: |\n  x', /^c\.yaml:1: block scalars/],
    ['region: &a x', /^c\.yaml:1: anchors and aliases/],
    ['region: !!str x', /^c\.yaml:1: tags/],
    ['region: null', /^c\.yaml:1: null values are not supported/],
    ['region: ~', /^c\.yaml:1: null values are not supported/],
    ['\n\nregion: "open', /^c\.yaml:3: unterminated quoted value/],
    ['region: "a" b', /^c\.yaml:1: unexpected text after the quoted value/],
    ['region: "\\q"', /^c\.yaml:1: bad escape "\\q"/],
    ['region: a: b', /^c\.yaml:1: a value containing ": " must be quoted/],
    ['region:us-east-1', /^c\.yaml:1: expected "key: value" \(with a space after the colon\)/],
    ['just words', /^c\.yaml:1: expected "key: value"$/],
    ['"region": x', /^c\.yaml:1: quoted keys are not supported/],
    ['re gion: x', /^c\.yaml:1: "re gion" is not an option name/],
    ['region: `x`', /^c\.yaml:1: a value starting with "`" must be quoted/],
    ['%YAML 1.2\n---\nuid: 1', /^c\.yaml:1: YAML directives/],
    ['uid: 1\n---\ngid: 2', /^c\.yaml:2: only one YAML document/],
    ['uid: 1\n...\ngid: 2', /^c\.yaml:3: nothing may follow/],
  ];
  for (const [yaml, message] of cases) {
    assert.throws(() => configFromYaml(yaml, 'c.yaml'), (err: unknown) => {
      assert.ok(err instanceof ConfigFileError, yaml);
      assert.ok(err instanceof UsageError, 'the CLI reports it as a usage error');
      assert.match(err.message, message, yaml);
      return true;
    });
  }
});

test('YAML: unknown keys, bad values and repeated keys name the key and line', () => {
  assert.throws(() => configFromYaml('uid: 1\nread-onyl: true', 'c.yaml'), {
    message: 'c.yaml:2: unknown option "read-onyl" (did you mean "read-only"?)',
  });
  assert.throws(() => configFromYaml('readOnly: true', 'c.yaml'), {
    message: 'c.yaml:1: unknown option "readOnly" (did you mean "read-only"?)',
  });
  assert.throws(() => configFromYaml('frobnicate: 3', 'c.yaml'), { message: 'c.yaml:1: unknown option "frobnicate"' });
  assert.throws(() => configFromYaml('help: true', 'c.yaml'), /unknown option "help"/);
  assert.throws(() => configFromYaml('config: other.yaml', 'c.yaml'), /unknown option "config"/);
  assert.throws(() => configFromYaml('\nuid: lots', 'c.yaml'), { message: 'c.yaml:2: uid: expected a number, got "lots"' });
  assert.throws(() => configFromYaml('read_only: maybe', 'c.yaml'), {
    message: 'c.yaml:1: read_only: expected true or false, got "maybe"',
  });
  assert.throws(() => configFromYaml('log-format: xml', 'c.yaml'), {
    message: 'c.yaml:1: log-format: "xml" is not one of: logfmt, json',
  });
  assert.throws(() => configFromYaml('read-only: true\nuid: 1\nread_only: false', 'c.yaml'), {
    message: 'c.yaml:3: "read_only" repeats c.yaml:1',
  });
});

test('JSON: same keys, typed values, errors name the key', () => {
  assert.deepEqual(
    configFromJson('{"target": "b", "read_only": true, "uid": 7, "metadata-ttl": 5, "file_mode": "0600"}', 'c.json'),
    { target: 'b', 'read-only': true, uid: 7, 'metadata-ttl': '5', 'file-mode': '0600' },
  );
  assert.throws(() => configFromJson('{"uid": "x"}', 'c.json'), { message: 'c.json: "uid": uid: expected a number, got "x"' });
  assert.throws(() => configFromJson('{"read-only": 1}', 'c.json'), /"read-only": read-only: expected true or false, got 1/);
  assert.throws(() => configFromJson('{"region": {"name": "x"}}', 'c.json'), /"region": region: expected a string, got an object/);
  assert.throws(() => configFromJson('{"region": null}', 'c.json'), /expected a string, got null/);
  assert.throws(() => configFromJson('{"allow_delet": true}', 'c.json'), {
    message: 'c.json: "allow_delet": unknown option "allow_delet" (did you mean "allow-delete"?)',
  });
  assert.throws(() => configFromJson('{"uid": 1, "uid_": 2}', 'c.json'), /unknown option "uid_"/);
  assert.throws(() => configFromJson('[1]', 'c.json'), /must be an object/);
  assert.throws(() => configFromJson('{\n  "uid": 1,\n}', 'c.json'), { message: /^c\.json:3: invalid JSON/ });
});

test('loadConfigFile picks the format by extension and reports unreadable files', (t) => {
  const dir = tempDir(t);
  const yamlFile = path.join(dir, 'b.yml');
  writeFileSync(yamlFile, 'uid: 5\n');
  assert.deepEqual(loadConfigFile(yamlFile), { uid: 5 });
  const jsonFile = path.join(dir, 'b.json');
  writeFileSync(jsonFile, '{"uid": 6}');
  assert.deepEqual(loadConfigFile(jsonFile), { uid: 6 });
  const sniffed = path.join(dir, 'b.conf');
  writeFileSync(sniffed, ' {"uid": 7}');
  assert.deepEqual(loadConfigFile(sniffed), { uid: 7 });
  // A .yaml file holding JSON is parsed as YAML, and says so.
  const misnamed = path.join(dir, 'c.yaml');
  writeFileSync(misnamed, '{"uid": 7}');
  assert.throws(() => loadConfigFile(misnamed), /c\.yaml:1: flow collections/);
  assert.throws(() => loadConfigFile(path.join(dir, 'missing.yaml')), {
    message: `cannot read config file ${path.join(dir, 'missing.yaml')}: no such file`,
  });
  if (process.getuid?.() !== 0) {
    const locked = path.join(dir, 'locked.yaml');
    writeFileSync(locked, 'uid: 1');
    chmodSync(locked, 0o000);
    assert.throws(() => loadConfigFile(locked), /permission denied/);
  }
});

test('--config feeds the serve flags; command-line flags override the file', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'photos.yaml');
  writeFileSync(
    file,
    [
      'target: photos/raw',
      'endpoint-url: http://127.0.0.1:7480',
      'read_only: true',
      'uid: 1000',
      'file_mode: "0600"',
      'metadata_ttl: 30',
      'state-dir: /var/lib/s3nfs/photos',
      'log-format: json',
    ].join('\n'),
  );
  const c = await parseServe(['serve', '--config', file]);
  assert.equal(c.bucket, 'photos');
  assert.equal(c.prefix, 'raw/');
  assert.equal(c.endpointUrl, 'http://127.0.0.1:7480');
  assert.equal(c.forcePathStyle, true);
  assert.equal(c.readOnly, true);
  assert.equal(c.uid, 1000);
  assert.equal(c.fileMode, 0o600);
  assert.equal(c.metadataTtlMs, 30_000);
  assert.equal(c.stateDir, '/var/lib/s3nfs/photos');
  assert.equal(c.logFormat, 'json');

  const overridden = await parseServe(['serve', 'other', '--config', file, '--uid', '7', '--no-read-only']);
  assert.equal(overridden.bucket, 'other');
  assert.equal(overridden.uid, 7);
  assert.equal(overridden.readOnly, false);
  assert.equal(overridden.fileMode, 0o600);
});

test('--config with a bad file fails with the file, line and key', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'bad.yaml');
  writeFileSync(file, 'target: b\nallow-delte: true\n');
  await assert.rejects(parseServe(['serve', '--config', file]), {
    message: `${file}:2: unknown option "allow-delte" (did you mean "allow-delete"?)`,
  });
});

test('parseFlatYaml reports entries with their lines and whether they were quoted', () => {
  assert.deepEqual(parseFlatYaml('\n# c\na: 1\nb: "1"\n', 'x'), [
    { key: 'a', value: { text: '1', quoted: false }, line: 3 },
    { key: 'b', value: { text: '1', quoted: true }, line: 4 },
  ]);
});

const repoFile = (p: string) => new URL(`../../../../${p}`, import.meta.url);

test('the shipped example configs (systemd, Kubernetes) load into a valid ServeConfig', async () => {
  const systemd = fileURLToPath(repoFile('deploy/systemd/bucket.yaml'));
  const fromSystemd = await parseServe(['serve', '--config', systemd]);
  assert.equal(fromSystemd.bucket, 'my-bucket');
  assert.equal(fromSystemd.prefix, 'photos/');
  assert.equal(fromSystemd.fileMode, 0o644);
  assert.equal(fromSystemd.listen, '127.0.0.1');

  // The ConfigMap's s3nfs.yaml: the block under `s3nfs.yaml: |`, indented by four spaces.
  const manifest = readFileSync(repoFile('deploy/kubernetes/pod.yaml'), 'utf8').split('\n');
  const start = manifest.findIndex((l) => l.trim() === 's3nfs.yaml: |') + 1;
  assert.ok(start > 0);
  const block: string[] = [];
  for (const l of manifest.slice(start)) {
    if (!l.startsWith('    ')) break;
    block.push(l.slice(4));
  }
  const values = configFromYaml(block.join('\n'), 'pod.yaml#s3nfs.yaml');
  assert.equal(values['target'], 'my-bucket');
  assert.equal(values['listen'], '0.0.0.0');
  assert.equal(values['state-dir'], '/var/lib/s3nfs');
});
