// How fast does a large file written through the mount become an S3 object, compared with uploading it
// straight to S3 with @aws-sdk/lib-storage? Run by scripts/bench/write.sh (which starts a bluestore Ceph RGW);
// by hand, with the env of `scripts/local-s3.sh start DIR --store bluestore` sourced:
//
//   node dist/scripts/bench/write-bench.js [--size-mib 1024] [--publish-delay 0.5] [--part-mib 8]
//        [--queue 4] [--guest-mem 512M] [--relay-baseline] [--no-fio] [--keep-results DIR]
//
// Each figure is MiB / seconds from the start of the write until S3 shows the whole object:
//   sdk-host   lib-storage Upload (part size --part-mib, --queue parts in flight) from this host to RGW;
//              done() returning is the moment the object is visible
//   sdk-relay  the same from inside the test's network namespace, through the harness's S3 relay: the path
//              s3nfs's own requests take (--relay-baseline; it runs before s3nfs starts)
//   dd         `dd if=/dev/zero bs=1M conv=fsync` in the UML guest (Linux NFS client) onto the mount; the host
//              polls HEAD every 50 ms until the object has the full size (this includes the publish delay)
//   fio        `fio --rw=write --bs=1M --end_fsync=1`, measured the same way
// and the ratios dd/sdk-host and fio/sdk-host (and against sdk-relay when measured). The guest's clock is the
// host's (UML), so guest start times and host HEAD times compare directly. For dd and fio it also prints what
// the server's metrics say it uploaded (more than the file size means parts were sent twice) and its CPU time.
//
//   node dist/scripts/bench/write-bench.js direct --key K --size-mib N --part-mib 8 --queue 4 --out FILE
// is the sdk upload alone (what --relay-baseline runs inside the namespace).
import { writeFile, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createBucket, deleteBucket, s3Client, s3EnvFromProcess, uniqueBucketName } from '../../test/e2e/support/seed.js';
import { GUEST_CTL, SupervisedServer, s3nfsMount } from '../../test/e2e/support/server-control.js';
import { headObject } from '../../test/e2e/support/s3-watch.js';
import { describeRun, runInGuest, shellQuote, umlUnavailableReason } from '../../test/e2e/support/uml.js';

const MiB = 1024 * 1024;
const METRICS_PORT = 9469;
/** Server metrics the guest prints after each phase, as "metrics PHASE NAME VALUE" lines. */
const METRICS = ['s3nfs_s3_uploaded_bytes_total', 's3nfs_s3_copied_bytes_total', 'process_cpu_seconds_total'];

function num(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`write-bench: --${flag} ${v} is not a positive number`);
    process.exit(2);
  }
  return n;
}

/** `size` bytes of a random 1 MiB block repeated: costs no CPU to produce, and nothing compresses it away. */
function body(size: number): Readable {
  const block = randomBytes(MiB);
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(MiB, left);
      left -= n;
      this.push(n === MiB ? block : block.subarray(0, n));
    },
  });
}

/** Seconds for a lib-storage Upload of `size` bytes to `key` (and this process's CPU seconds meanwhile). */
async function sdkUpload(client: S3Client, bucket: string, key: string, size: number, partSize: number, queueSize: number): Promise<number> {
  const start = performance.now();
  const cpu = process.cpuUsage();
  await new Upload({ client, params: { Bucket: bucket, Key: key, Body: body(size) }, partSize, queueSize }).done();
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  lastUploadCpuS = (used.user + used.system) / 1e6;
  const head = await headObject(client, bucket, key);
  if (head?.size !== size) throw new Error(`upload of ${key} left ${JSON.stringify(head)}`);
  return seconds;
}

let lastUploadCpuS = 0;

async function direct(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      key: { type: 'string' },
      bucket: { type: 'string' },
      'size-mib': { type: 'string', default: '1024' },
      'part-mib': { type: 'string', default: '8' },
      queue: { type: 'string', default: '4' },
      out: { type: 'string' },
    },
  });
  const env = s3EnvFromProcess();
  if (!env || !values.key || !values.bucket || !values.out) throw new Error('direct: --key, --bucket, --out and the S3 env are required');
  const client = s3Client(env);
  const size = num('size-mib', values['size-mib']) * MiB;
  const seconds = await sdkUpload(client, values.bucket, values.key, size, num('part-mib', values['part-mib']) * MiB, num('queue', values.queue));
  await client.send(new DeleteObjectCommand({ Bucket: values.bucket, Key: values.key }));
  client.destroy();
  await writeFile(values.out, JSON.stringify({ seconds }));
}

/** Polls HEAD every 50 ms until `key` has `size` bytes; the wall-clock time it first did. */
async function visibleAt(client: S3Client, bucket: string, key: string, size: number, timeoutMs: number, running: () => boolean): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const h = await headObject(client, bucket, key);
    if (h?.size === size) return Date.now();
    if (Date.now() > deadline || !running()) {
      throw new Error(`${key} not visible with ${size} bytes (last HEAD ${JSON.stringify(h)}; guest ${running() ? 'still running' : 'gone'})`);
    }
    await sleep(50);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mib': { type: 'string', default: '1024' },
      'publish-delay': { type: 'string', default: '0.5' },
      'part-mib': { type: 'string', default: '8' },
      queue: { type: 'string', default: '4' },
      'guest-mem': { type: 'string', default: '512M' },
      'relay-baseline': { type: 'boolean', default: false },
      'no-fio': { type: 'boolean', default: false },
      'keep-results': { type: 'string' },
    },
  });
  const env = s3EnvFromProcess();
  if (!env) throw new Error('S3NFS_TEST_ENDPOINT is not set (source the env of scripts/local-s3.sh start DIR --store bluestore)');
  const unavailable = umlUnavailableReason();
  if (unavailable) throw new Error(unavailable);
  const sizeMiB = num('size-mib', values['size-mib']);
  const size = sizeMiB * MiB;
  const publishDelay = num('publish-delay', values['publish-delay']);
  const partMiB = num('part-mib', values['part-mib']);
  const queue = num('queue', values.queue);
  const client = s3Client(env);
  const bucket = uniqueBucketName('bench');
  await createBucket(client, bucket);
  const work = await mkdtemp(path.join(tmpdir(), 's3nfs-write-bench-'));
  const results: Record<string, number> = {};
  const report = (name: string, seconds: number, note = '') => {
    results[name] = sizeMiB / seconds;
    console.log(`${name.padEnd(10)} ${(sizeMiB / seconds).toFixed(1).padStart(7)} MiB/s  (${seconds.toFixed(2)} s)${note ? `  ${note}` : ''}`);
  };
  try {
    console.log(`write-bench: ${sizeMiB} MiB, part size ${partMiB} MiB, lib-storage queue ${queue}, s3nfs --publish-delay ${publishDelay}`);
    const sdkSeconds = await sdkUpload(client, bucket, 'bench/sdk-host.bin', size, partMiB * MiB, queue);
    report('sdk-host', sdkSeconds, `(client CPU ${lastUploadCpuS.toFixed(1)} s)`);
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'bench/sdk-host.bin' }));

    const stateDir = path.join(work, 'state');
    const relayOut = path.join(work, 'sdk-relay.json');
    const prelude = values['relay-baseline']
      ? [
          'node dist/scripts/bench/write-bench.js direct',
          `--bucket ${bucket} --key bench/sdk-relay.bin --size-mib ${sizeMiB} --part-mib ${partMiB} --queue ${queue}`,
          `--out ${shellQuote(relayOut)}`,
        ].join(' ')
      : undefined;
    const server = await SupervisedServer.create({
      bucket,
      endpoint: env.endpoint,
      stateDir,
      // Metrics on the namespace's own addresses (private to this run): the guest reads them after each phase.
      flags: ['--publish-delay', String(publishDelay), '--write-part-size', String(partMiB), '--metrics-listen', `0.0.0.0:${METRICS_PORT}`],
      ...(prelude === undefined ? {} : { prelude }),
    });
    const fio = !values['no-fio'];
    const guestScript = [
      GUEST_CTL,
      'set -e',
      'now() { date +%s.%N; }',
      // Sums each metric over its label sets.
      `metrics() { curl -s "http://$UML_HOST_ADDR:${METRICS_PORT}/metrics" | awk -v phase="$1" '$1 !~ /^#/ { n = $1; sub(/\\{.*/, "", n); if (n ~ /^(${METRICS.join('|')})$/) sum[n] += $2 } END { for (n in sum) printf "metrics %s %s %.6f\\n", phase, n, sum[n] }'; }`,
      'metrics start',
      `t0=$(now); dd if=/dev/zero of=dd.bin bs=1M count=${sizeMiB} conv=fsync 2>/tmp/dd.err; t1=$(now)`,
      'echo "dd start=$t0 end=$t1"; tail -n1 /tmp/dd.err',
      'ctl wait dd-visible 600',
      'metrics dd',
      ...(fio
        ? [
            `t0=$(now); fio --name=seqwrite --filename=fio.bin --rw=write --bs=1M --size=${sizeMiB}M --ioengine=psync --end_fsync=1 --fallocate=none --output=/tmp/fio.out; t1=$(now)`,
            'echo "fio start=$t0 end=$t1"; grep -E "WRITE:|write:" /tmp/fio.out || true',
            'ctl wait fio-visible 600',
            'metrics fio',
          ]
        : []),
    ].join('\n');
    let running = true;
    const run = runInGuest({
      serverCommand: server.serverCommand,
      s3Endpoint: env.endpoint,
      mount: s3nfsMount(bucket),
      guestScript,
      guestEnv: server.guestEnv,
      guestMem: values['guest-mem']!,
      timeoutMs: 1_200_000,
      serverStopTimeoutMs: 60_000,
      ...(values['keep-results'] === undefined ? {} : { keepResultsIn: values['keep-results'] }),
    }).finally(() => {
      running = false;
    });
    const visible: Record<string, number> = {};
    let failure: unknown;
    try {
      visible['dd'] = await visibleAt(client, bucket, 'dd.bin', size, 1_200_000, () => running);
      await server.release('dd-visible');
      if (fio) {
        visible['fio'] = await visibleAt(client, bucket, 'fio.bin', size, 1_200_000, () => running);
        await server.release('fio-visible');
      }
    } catch (err) {
      failure = err;
      await server.release('dd-visible');
      await server.release('fio-visible');
    }
    const r = await run;
    await server.cleanup();
    if (failure !== undefined || r.outcome !== 'ok' || r.exitCode !== 0) {
      throw new Error(`${failure instanceof Error ? failure.message : 'guest run failed'}\n${describeRun(r)}`);
    }
    if (values['relay-baseline']) {
      const relay = JSON.parse(await readFile(relayOut, 'utf8')) as { seconds: number };
      report('sdk-relay', relay.seconds);
    }
    const metric = (phase: string, name: string): number =>
      Number(new RegExp(`^metrics ${phase} ${name} (\\S+)$`, 'm').exec(r.stdout)?.[1] ?? NaN);
    let previous = 'start';
    for (const name of Object.keys(visible)) {
      const m = new RegExp(`^${name} start=(\\S+) end=(\\S+)$`, 'm').exec(r.stdout);
      if (!m) throw new Error(`no ${name} times in the guest output:\n${r.stdout}`);
      const start = Number(m[1]) * 1000;
      const returned = Number(m[2]) * 1000;
      const uploaded = metric(name, 's3nfs_s3_uploaded_bytes_total') - metric(previous, 's3nfs_s3_uploaded_bytes_total');
      const copied = metric(name, 's3nfs_s3_copied_bytes_total') - metric(previous, 's3nfs_s3_copied_bytes_total');
      const cpu = metric(name, 'process_cpu_seconds_total') - metric(previous, 'process_cpu_seconds_total');
      previous = name;
      report(
        name,
        (visible[name]! - start) / 1000,
        `(returned after ${((returned - start) / 1000).toFixed(2)} s, visible ${((visible[name]! - returned) / 1000).toFixed(2)} s later; ` +
          `server uploaded ${(uploaded / MiB).toFixed(0)} MiB, copied ${(copied / MiB).toFixed(0)} MiB, CPU ${cpu.toFixed(1)} s)`,
      );
    }
    const ratios = Object.keys(visible).flatMap((name) =>
      ['sdk-host', 'sdk-relay']
        .filter((base) => results[base] !== undefined)
        .map((base) => `${name}/${base} = ${(results[name]! / results[base]!).toFixed(2)}`),
    );
    console.log(`ratios: ${ratios.join(', ')}  (target ≥ 0.8)`);
    console.log('--- guest output');
    console.log(r.stdout.trim());
  } finally {
    await deleteBucket(client, bucket).catch((err: unknown) => console.error(`write-bench: deleting ${bucket}: ${String(err)}`));
    client.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

const [mode, ...rest] = process.argv.slice(2);
(mode === 'direct' ? direct(rest) : main()).catch((err: unknown) => {
  console.error(`write-bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
});
