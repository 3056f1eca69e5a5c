// A port mapper, version 2 (RFC 1833 section 3), that knows only this server's own programs: GETPORT
// answers their port (0 for anything else, e.g. any program over UDP but the portmapper itself),
// DUMP lists them. It never changes: SET and
// UNSET from the network are refused (false), and CALLIT is not served (PROC_UNAVAIL), since
// forwarding calls is an amplification risk.

import { IPPROTO_TCP, PMAP2, PMAP_PROGRAM, PMAP_V2, PmapProc } from '../../protocol/portmap.js';
import type { Mapping } from '../../protocol/portmap.js';
import type { Logger } from '../server/logger.js';
import { implement, nullProcedure } from '../server/program.js';
import type { RpcProgram } from '../server/program.js';

/** A program version this server offers: over TCP on the server's port unless told otherwise. */
export interface OfferedProgram {
  readonly program: number;
  readonly version: number;
  /** IPPROTO_TCP (the default) or IPPROTO_UDP. */
  readonly prot?: number;
  /** Default: the server's port. */
  readonly port?: number;
}

export interface PortmapProgramOptions {
  /** What to advertise; read on every call. */
  readonly programs: () => readonly OfferedProgram[];
  /** The TCP port they are served on (known once the server listens); read on every call. */
  readonly port: () => number;
  readonly logger: Logger;
}

export function portmapProgram(options: PortmapProgramOptions): RpcProgram {
  const { logger } = options;
  const mappings = (): Mapping[] =>
    options.programs().map((o) => ({
      prog: o.program,
      vers: o.version,
      prot: o.prot ?? IPPROTO_TCP,
      port: o.port ?? options.port(),
    }));
  const p = PMAP2.procedures;
  return {
    name: 'portmapper',
    program: PMAP_PROGRAM,
    versions: {
      [PMAP_V2]: {
        [PmapProc.NULL]: nullProcedure(),
        [PmapProc.SET]: implement(p.SET, (m, call): boolean => {
          logger.debug('portmap SET refused', { client: call.client.address, program: m.prog, version: m.vers });
          return false;
        }),
        [PmapProc.UNSET]: implement(p.UNSET, (m, call): boolean => {
          logger.debug('portmap UNSET refused', { client: call.client.address, program: m.prog, version: m.vers });
          return false;
        }),
        [PmapProc.GETPORT]: implement(p.GETPORT, (m): number => {
          const found = mappings().find((o) => o.prog === m.prog && o.vers === m.vers && o.prot === m.prot);
          return found ? found.port : 0;
        }),
        [PmapProc.DUMP]: implement(p.DUMP, (): Mapping[] => mappings()),
      },
    },
  };
}
