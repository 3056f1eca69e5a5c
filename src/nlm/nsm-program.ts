// The status monitor's SM_NOTIFY, served so that a client which restarts loses the locks it held:
// its sm-notify finds "status" through the portmapper this server answers on port 111 and says
// "I restarted" (over UDP). Only that procedure is served: s3nfs monitors nobody itself.

import { NSM1, NSM_PROGRAM, NSM_V1, NsmProc } from '../../protocol/nsm.js';
import type { LogSink } from '../log/logger.js';
import { implement, nullProcedure } from '../server/program.js';
import type { RpcProgram } from '../server/program.js';
import type { LockTable } from './lock-table.js';

export interface NsmProgramOptions {
  readonly table: LockTable;
  readonly logger: LogSink;
}

export function nsmProgram(options: NsmProgramOptions): RpcProgram {
  return {
    name: 'status',
    program: NSM_PROGRAM,
    versions: {
      [NSM_V1]: {
        [NsmProc.NULL]: nullProcedure(),
        [NsmProc.NOTIFY]: implement(NSM1.procedures.NOTIFY, (args, call): void => {
          // The client names itself as its lock requests did; its address is the other hint.
          const released = options.table.releaseWhere(
            (o) => o.host === args.monName || o.address === call.client.address,
          );
          options.logger.info('client restarted: its locks are released', {
            client: call.client.address,
            host: args.monName,
            locks: released,
          });
        }),
      },
    },
  };
}
