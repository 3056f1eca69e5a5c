// The lock manager (NLM version 4) for the NFS export: byte-range locks granted in memory, so that
// a client mounted with the default `lock` option gets working fcntl/flock locks, coordinated
// between all clients of this server.
//
// What it leaves out: locks live only as long as the server process (a restart forgets them and
// there is no grace period for reclaims); a blocked lock is not called back with GRANTED, the
// Linux client asks again on its own (every 30 s at most); DOS share reservations (SHARE) and the
// asynchronous *_MSG forms are not served. A client that restarts without unlocking is cleaned up
// by FREE_ALL, when its status monitor sends one.

import { NLM4, NLM_PROGRAM, NLM_V4, Nlm4Stat, NlmProc } from '../../protocol/nlm4.js';
import type { Nlm4Lock, Nlm4Res, Nlm4Testres } from '../../protocol/nlm4.js';
import type { FileSystem } from '../fs/file-system.js';
import type { LogSink } from '../log/logger.js';
import { implement, nullProcedure } from '../server/program.js';
import type { CallContext, RpcProgram } from '../server/program.js';
import { LockTable, lengthOf, rangeOf, type LockOwner } from './lock-table.js';

export interface NlmProgramOptions {
  /** Validates file handles (a lock on a handle the export does not know is STALE_FH). */
  readonly fs: Pick<FileSystem, 'idForHandle'>;
  readonly logger: LogSink;
  readonly table?: LockTable;
  /** How long a blocked request is remembered for CANCEL. Default 5 min. */
  readonly blockedTtlMs?: number;
  readonly now?: () => number;
}

/** The owner of a lock: the caller's address, its name for itself, the process (svid) and owner handle. */
export function lockOwnerOf(lock: Nlm4Lock, call: Pick<CallContext, 'client'>): LockOwner {
  return {
    key: `${call.client.address}\u0000${lock.callerName}\u0000${lock.svid}\u0000${lock.oh.toString('hex')}`,
    address: call.client.address,
    host: lock.callerName,
    svid: lock.svid,
    oh: lock.oh,
  };
}

export function nlmProgram(options: NlmProgramOptions): RpcProgram {
  const table = options.table ?? new LockTable();
  const log = options.logger;
  const now = options.now ?? Date.now;
  const blockedTtlMs = options.blockedTtlMs ?? 5 * 60_000;
  /** Blocked LOCK requests, for CANCEL: key → when it was last asked. */
  const blocked = new Map<string, number>();
  const p = NLM4.procedures;

  /** The file a lock is on (the export's file id), or undefined for a handle it does not know. */
  const fileOf = (lock: Nlm4Lock): string | undefined => {
    try {
      return String(options.fs.idForHandle(lock.fh));
    } catch {
      return undefined;
    }
  };
  const blockedKey = (file: string, owner: LockOwner, exclusive: boolean, lock: Nlm4Lock): string =>
    `${file}\u0000${owner.key}\u0000${exclusive}\u0000${lock.offset}\u0000${lock.len}`;
  const forgetOldBlocked = (): void => {
    const limit = now() - blockedTtlMs;
    for (const [k, t] of blocked) if (t < limit) blocked.delete(k);
  };
  const res = (cookie: Buffer, stat: Nlm4Stat): Nlm4Res => ({ cookie, stat });

  return {
    name: 'nlockmgr',
    program: NLM_PROGRAM,
    versions: {
      [NLM_V4]: {
        [NlmProc.NULL]: nullProcedure(),
        [NlmProc.TEST]: implement(p.TEST, (args, call): Nlm4Testres => {
          const file = fileOf(args.alock);
          if (file === undefined) return { cookie: args.cookie, test: { stat: Nlm4Stat.NLM4_STALE_FH } };
          const owner = lockOwnerOf(args.alock, call);
          const { start, end } = rangeOf(args.alock.offset, args.alock.len);
          const holder = table.conflict(file, owner, args.exclusive, start, end);
          if (!holder) return { cookie: args.cookie, test: { stat: Nlm4Stat.NLM4_GRANTED } };
          return {
            cookie: args.cookie,
            test: {
              stat: Nlm4Stat.NLM4_DENIED,
              holder: {
                exclusive: holder.exclusive,
                svid: holder.owner.svid,
                oh: holder.owner.oh,
                offset: holder.start,
                len: lengthOf(holder),
              },
            },
          };
        }),
        [NlmProc.LOCK]: implement(p.LOCK, (args, call): Nlm4Res => {
          const file = fileOf(args.alock);
          if (file === undefined) return res(args.cookie, Nlm4Stat.NLM4_STALE_FH);
          const owner = lockOwnerOf(args.alock, call);
          const { start, end } = rangeOf(args.alock.offset, args.alock.len);
          const outcome = table.lock(file, owner, args.exclusive, start, end);
          const key = blockedKey(file, owner, args.exclusive, args.alock);
          if (outcome.granted) {
            blocked.delete(key);
            log.debug('lock granted', { client: call.client.address, host: owner.host, svid: owner.svid, file, exclusive: args.exclusive });
            return res(args.cookie, Nlm4Stat.NLM4_GRANTED);
          }
          log.debug('lock denied', {
            client: call.client.address,
            host: owner.host,
            file,
            holder: outcome.holder.owner.host,
            block: args.block,
          });
          if (!args.block) return res(args.cookie, Nlm4Stat.NLM4_DENIED);
          forgetOldBlocked();
          blocked.set(key, now());
          return res(args.cookie, Nlm4Stat.NLM4_BLOCKED);
        }),
        [NlmProc.CANCEL]: implement(p.CANCEL, (args, call): Nlm4Res => {
          const file = fileOf(args.alock);
          if (file === undefined) return res(args.cookie, Nlm4Stat.NLM4_STALE_FH);
          const key = blockedKey(file, lockOwnerOf(args.alock, call), args.exclusive, args.alock);
          return res(args.cookie, blocked.delete(key) ? Nlm4Stat.NLM4_GRANTED : Nlm4Stat.NLM4_DENIED);
        }),
        [NlmProc.UNLOCK]: implement(p.UNLOCK, (args, call): Nlm4Res => {
          const file = fileOf(args.alock);
          if (file === undefined) return res(args.cookie, Nlm4Stat.NLM4_STALE_FH);
          const { start, end } = rangeOf(args.alock.offset, args.alock.len);
          table.unlock(file, lockOwnerOf(args.alock, call), start, end);
          return res(args.cookie, Nlm4Stat.NLM4_GRANTED);
        }),
        [NlmProc.FREE_ALL]: implement(p.FREE_ALL, (args, call): void => {
          const n = table.releaseWhere((o) => o.host === args.name);
          log.info('client restarted: its locks are released', { client: call.client.address, host: args.name, locks: n });
        }),
      },
    },
  };
}
