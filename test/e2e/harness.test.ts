// The e2e harness itself, against a reference server (nfs-ganesha): a file written by the Linux kernel client
// arrives intact, guest processes keep their FPU state, and the harness reports exit status, output, env,
// S3 reachability and failures faithfully.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  describeRun,
  runInGuest,
  shellQuote,
  umlUnavailableReason,
  type GuestRunOptions,
  type GuestRunResult,
} from './support/uml.js';
import { ganeshaServer, ganeshaUnavailableReason } from './support/ganesha.js';

const unavailable = umlUnavailableReason() ?? ganeshaUnavailableReason();

async function withExportDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 's3nfs-harness-export-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs a guest script with nfs-ganesha exporting a fresh directory; the directory goes after `check`. */
async function againstGanesha(
  options: Omit<GuestRunOptions, 'serverCommand' | 'mount'>,
  check: (r: GuestRunResult, dir: string) => Promise<void> | void,
): Promise<void> {
  await withExportDir(async (dir) => {
    const server = ganeshaServer({ dir });
    await check(await runInGuest({ ...options, serverCommand: server.serverCommand, mount: server.mount }), dir);
  });
}

test('a 20 MiB file written by the kernel client reaches the exported directory intact', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const started = performance.now();
  const options = {
    guestScript: ['set -e', 'dd if=/dev/urandom of=random.bin bs=1M count=20 status=none', 'sync', 'sha256sum random.bin'].join('\n'),
    timeoutMs: 60_000,
  };
  await againstGanesha(options, async (r, dir) => {
    assert.equal(r.outcome, 'ok', describeRun(r));
    assert.equal(r.exitCode, 0, describeRun(r));
    assert.equal(r.umountExit, 0, describeRun(r));
    const guestSum = /^([0-9a-f]{64})\s+random\.bin$/m.exec(r.stdout)?.[1];
    assert.ok(guestSum, `no sha256 in guest output: ${r.stdout}`);

    const onHost = path.join(dir, 'random.bin');
    assert.equal((await stat(onHost)).size, 20 * 1024 * 1024);
    const hostSum = createHash('sha256').update(await readFile(onHost)).digest('hex');
    assert.equal(hostSum, guestSum);

    t.diagnostic(`UML boot + mount: ${r.timingsMs.bootToMount} ms; guest script: ${r.timingsMs.script} ms; ` +
      `whole harness run: ${r.timingsMs.total} ms; test: ${Math.round(performance.now() - started)} ms`);
  });
});

test('guest processes keep their floating-point state across context switches (xstate-shim.c)', async (t) => {
  if (unavailable) return t.skip(unavailable);
  // Four processes share the guest's one CPU, so UML saves and restores their FPU state many times;
  // on AMX hosts every restore goes through the shim. awk's sin/sqrt use the SSE/AVX registers.
  const program = 'BEGIN { s = 0; for (i = 0; i < n; i++) s += sin(i * 0.001 * k) * sqrt(i); printf "%d %.10f\\n", k, s }';
  const n = 3_000_000;
  const expected = [1, 2, 3, 4].map((k) => execFileSync('awk', ['-v', `n=${n}`, '-v', `k=${k}`, program], { encoding: 'utf8' }).trim());
  const options = {
    guestScript: [`for k in 1 2 3 4; do awk -v n=${n} -v k=$k ${shellQuote(program)} >"$UML_FILES/fp-$k" & done`, 'wait'].join('\n'),
    timeoutMs: 120_000,
  };
  await againstGanesha(options, (r) => {
    assert.equal(r.exitCode, 0, describeRun(r));
    const got = [1, 2, 3, 4].map((k) => r.files.get(`fp-${k}`)?.toString('utf8').trim());
    assert.deepEqual(got, expected);
  });
});

test('guest env, exit status, stdout, stderr and result files come back to the host', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const tricky = `it's "quoted" $HOME and spaces`;
  const options = {
    guestEnv: { GREETING: tricky, COUNT: '3' },
    guestScript: [
      'printf "%s\\n" "$GREETING"',
      'echo "count=$COUNT cwd=$PWD mount=$NFS_MOUNT"',
      'echo "to stderr" >&2',
      'echo result-data > "$UML_FILES/answer.txt"',
      'test -d /dev/shm && ip route | grep -q "^default via $UML_HOST_ADDR" && echo "shm and route ok"',
      'exit 7',
    ].join('\n'),
    timeoutMs: 60_000,
  };
  await againstGanesha(options, (r) => {
    assert.equal(r.outcome, 'ok', describeRun(r));
    assert.equal(r.exitCode, 7);
    assert.equal(
      r.stdout,
      `${tricky}\ncount=3 cwd=/tmp/mnt mount=/tmp/mnt\nshm and route ok\n`,
    );
    assert.equal(r.stderr, 'to stderr\n');
    assert.equal(r.files.get('answer.txt')?.toString(), 'result-data\n');
    assert.match(r.hostAddr, /^10\.77\.\d+\.1$/);
  });
});

test('the server reaches an S3 endpoint on the host loopback under the same URL', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const token = randomBytes(8).toString('hex');
  const seen: string[] = [];
  const http = createServer((req, res) => {
    seen.push(req.url ?? '');
    res.end(`bucket-listing-${token}`);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  try {
    await withExportDir(async (dir) => {
      const server = ganeshaServer({ dir });
      // The "server" first talks to S3 from inside the namespace, then serves NFS.
      const probe = `fetch(process.env.S3_ENDPOINT + '/probe').then(r => r.text()).then(b => console.log('probe:' + b))`;
      const r = await runInGuest({
        serverCommand: `node -e ${shellQuote(probe)} && exec ${server.serverCommand}`,
        serverEnv: { S3_ENDPOINT: endpoint },
        s3Endpoint: endpoint,
        mount: server.mount,
        guestScript: 'true',
        timeoutMs: 60_000,
      });
      assert.equal(r.outcome, 'ok', describeRun(r));
      assert.match(r.serverLog, new RegExp(`^probe:bucket-listing-${token}$`, 'm'));
      assert.deepEqual(seen, ['/probe']);
    });
  } finally {
    http.close();
  }
});

test('a server that exits at start is reported without booting the guest', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const r = await runInGuest({
    serverCommand: 'echo "cannot open store" >&2; exit 3',
    mount: { export: '/export', options: 'vers=3,proto=tcp,port=20490,nolock' },
    guestScript: 'true',
    timeoutMs: 30_000,
  });
  assert.equal(r.outcome, 'server-failed', describeRun(r));
  assert.equal(r.serverExit, 3);
  assert.equal(r.exitCode, null);
  assert.match(r.serverLog, /cannot open store/);
  assert.equal(r.timingsMs.guest, null);
});

test('a failed mount is reported with mount.nfs output', async (t) => {
  if (unavailable) return t.skip(unavailable);
  await withExportDir(async (dir) => {
    const server = ganeshaServer({ dir });
    const r = await runInGuest({
      serverCommand: server.serverCommand,
      mount: { ...server.mount, export: '/not-exported' },
      guestScript: 'echo should-not-run',
      timeoutMs: 30_000,
    });
    assert.equal(r.outcome, 'mount-failed', describeRun(r));
    assert.notEqual(r.mountExit, 0);
    assert.match(r.mountError, /access denied|No such file/);
    assert.equal(r.stdout, '');
  });
});

test('a guest script that outlives its budget is stopped and reported as a timeout', async (t) => {
  if (unavailable) return t.skip(unavailable);
  await withExportDir(async (dir) => {
    const server = ganeshaServer({ dir });
    const r = await runInGuest({
      serverCommand: server.serverCommand,
      mount: server.mount,
      guestScript: 'echo started; sleep 600; echo finished',
      timeoutMs: 10_000,
    });
    assert.equal(r.outcome, 'timeout', describeRun(r));
    assert.doesNotMatch(r.stdout, /finished/);
  });
});
