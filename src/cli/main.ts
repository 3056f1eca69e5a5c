// s3nfs command line: parses flags, reports usage errors in one line naming the problem.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { withConfigFile } from './config-file.js';
import { expandMountOptions } from './mount-options.js';
import { serveFlags, toServeConfig, UsageError } from './serve-options.js';
import { runServe } from './serve.js';

function fail(message: string): never {
  process.stderr.write(`s3nfs: ${message}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('s3nfs')
    .usage('$0 <command> [options]')
    .command(
      'serve [target]',
      'serve a bucket (or BUCKET/PREFIX/) over NFSv3',
      (y) => withConfigFile(serveFlags(y)),
      async (a) => {
        const config = toServeConfig(a);
        process.exitCode = await runServe(config);
      },
    )
    .demandCommand(1, 'name a command: serve')
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
  .then(() => main(expandMountOptions(hideBin(process.argv))))
  .catch((err: unknown) => {
  if (err instanceof UsageError) fail(err.message);
  fail(err instanceof Error ? err.message : String(err));
});
