// s3nfs command line: parses flags, reports usage errors in one line naming the problem.
//
//   serve BUCKET[/PREFIX]        serve over NFSv3 (in the foreground, or --daemon)
//   mount BUCKET[/PREFIX] DIR    serve in the background and mount it here (-f: foreground)
//   unmount DIR                  unmount, publish pending writes, stop that server
//   status                       running servers: exports, clients, pending uploads
//   flush [PATH]                 publish pending writes now
//   stop                         stop a background server (publishing pending writes)
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { withConfigFile } from './config-file.js';
import { flushCommand, statusCommand, stopCommand, type CommandOutput } from './control-commands.js';
import {
  DAEMON_COMMAND,
  mountInBackground,
  mountInForeground,
  runDaemon,
  serveInBackground,
  unmountCommand,
} from './mount-command.js';
import { expandMountOptions } from './mount-options.js';
import { joinRepeatedFlags, serveFlags, toServeConfig, UsageError, type PortmapMode } from './serve-options.js';
import { runServe } from './serve.js';
import { mountStateDir } from './server-discovery.js';
import { DEFAULT_READ_AHEAD_KB } from './read-ahead.js';

function fail(message: string): never {
  process.stderr.write(`s3nfs: ${message}\n`);
  process.exit(2);
}

function finish(out: CommandOutput): void {
  process.stdout.write(out.stdout);
  process.stderr.write(out.stderr);
  process.exitCode = out.code;
}

/** --state-dir for the commands that find a running server (no default: they look everywhere). */
function stateDirFlag<T>(y: Argv<T>) {
  return y.option('state-dir', {
    type: 'string',
    describe: 'the server\'s state directory (default: look in the default one and those of s3nfs mount)',
  });
}

/** `s3nfs mount` takes the serve flags with defaults for a private server on this machine. */
function mountFlags<T>(y: Argv<T>) {
  return withConfigFile(serveFlags(y))
    .positional('dir', { describe: 'directory to mount on', type: 'string', demandOption: true })
    .option('foreground', {
      alias: 'f',
      type: 'boolean',
      default: false,
      describe: 'keep the server in this process (Ctrl-C unmounts and stops)',
    })
    .option('read-ahead-kb', {
      group: 'Mount:',
      type: 'number',
      default: DEFAULT_READ_AHEAD_KB,
      describe: "the mount's kernel read-ahead in KiB, as efs-utils sets it (0: keep the kernel's default, 128)",
    })
    .option('port', { group: 'Server:', type: 'number', default: 0, describe: 'TCP port for NFS and MOUNT (0: any free one)' })
    .option('portmap', {
      group: 'Server:',
      choices: ['auto', 'on', 'off'] as const,
      default: 'off' as PortmapMode,
      describe: 'portmapper (the mount names the ports, so none is needed)',
    })
    .option('state-dir', {
      group: 'Server:',
      type: 'string',
      describe: 'directory for handles, staged writes, pid file, log and control socket (default: one per mount point)',
    });
}

async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('s3nfs')
    .usage('$0 <command> [options]')
    .command(
      'serve [target]',
      'serve a bucket (or BUCKET/PREFIX/) over NFSv3',
      (y) =>
        withConfigFile(serveFlags(y)).option('daemon', {
          group: 'Server:',
          type: 'boolean',
          default: false,
          describe: 'run in the background (pid file, log and control socket in the state directory)',
        }),
      async (a) => {
        const config = toServeConfig(a);
        if (a.daemon) finish(await serveInBackground(config));
        else process.exitCode = await runServe(config);
      },
    )
    .command(
      'mount <target> <dir>',
      'serve a bucket in the background and mount it on DIR with the kernel NFS client',
      (y) => mountFlags(y),
      async (a) => {
        const dir = a.dir;
        const config = toServeConfig({ ...a, 'state-dir': a['state-dir'] ?? mountStateDir(dir) });
        const readAheadKb = a['read-ahead-kb'];
        if (!(Number.isSafeInteger(readAheadKb) && readAheadKb >= 0)) {
          fail(`--read-ahead-kb must be a whole number of KiB (0 or more), got ${String(readAheadKb)}`);
        }
        const mount = { readAheadKb };
        if (a.foreground) process.exitCode = await mountInForeground(config, dir, mount);
        else finish(await mountInBackground(config, dir, mount));
      },
    )
    .command(
      ['unmount <dir>', 'umount <dir>'],
      'unmount DIR, publish its pending writes and stop its server',
      (y) =>
        stateDirFlag(y)
          .positional('dir', { type: 'string', demandOption: true, describe: 'the mount point' })
          .option('timeout', { type: 'number', default: 600, describe: 'seconds to wait for the server to stop' }),
      async (a) => {
        finish(await unmountCommand(a.dir, a['state-dir'] ?? mountStateDir(a.dir), a.timeout * 1000));
      },
    )
    .command(
      'status',
      'show running servers: exports, clients, pending uploads',
      (y) => stateDirFlag(y).option('json', { type: 'boolean', default: false, describe: 'print JSON' }),
      async (a) => finish(await statusCommand(a['state-dir'], a.json)),
    )
    .command(
      'flush [path]',
      'publish pending writes now (all, or PATH: a file or directory in a mount, or a path in the export)',
      (y) => stateDirFlag(y).positional('path', { type: 'string' }),
      async (a) => finish(await flushCommand(a.path, a['state-dir'])),
    )
    .command(
      'stop',
      'stop a background server (it publishes pending writes first)',
      (y) => stateDirFlag(y).option('timeout', { type: 'number', default: 600, describe: 'seconds to wait for it to stop' }),
      async (a) => finish(await stopCommand(a['state-dir'], a.timeout * 1000)),
    )
    .command(DAEMON_COMMAND, false, (y) => y, async () => {
      process.exitCode = await runDaemon();
    })
    .demandCommand(1, 'name a command: serve, mount, unmount, status, flush, stop')
    .strict()
    // `-o uid=1 --uid 2`: the last value wins, as with mount options, instead of an array.
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .help()
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((msg, err) => {
      if (err instanceof UsageError) fail(err.message);
      if (err) throw err;
      fail(msg);
    })
    .parseAsync();
}

Promise.resolve()
  .then(() => main(joinRepeatedFlags(expandMountOptions(hideBin(process.argv)))))
  .catch((err: unknown) => {
    if (err instanceof UsageError) fail(err.message);
    fail(err instanceof Error ? err.message : String(err));
  });
