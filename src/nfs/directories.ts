// READDIR and READDIRPLUS (RFC 1813 sections 3.3.16, 3.3.17). The client's byte budget (READDIR
// `count`, READDIRPLUS `maxcount`) bounds the whole reply, XDR overhead included: the fixed part
// is taken off first and each entry is charged its exact wire size, so the reply always fits.
// If not even one entry fits, the file system answers TOOSMALL.
//
// READDIRPLUS `dircount` is not enforced: the Linux client sends maxcount/8 and expects replies
// filled up to maxcount (knfsd ignores dircount too); maxcount alone bounds what is sent.

import { Nfs3Proc } from '../../protocol/nfs3/constants.js';
import type { Nfs3Program } from '../../protocol/nfs3/program.js';
import { entry3Size, entryplus3Size, readdir3Res, readdirResOkBaseSize, readdirplus3Res } from '../../protocol/nfs3/readdir.js';
import type { Entry3, Entryplus3 } from '../../protocol/nfs3/readdir.js';
import type { RpcProcedure } from '../server/program.js';
import { nfsProcedure } from './context.js';
import type { NfsContext } from './context.js';
import { verifierBytes, verifierValue } from './fattr.js';

/** Largest directory reply built, whatever the client offers (bounds the memory one call uses). */
export const MAX_DIRECTORY_REPLY = 1024 * 1024;

/** The smallest entry there can be (a one-byte name), to bound the entry count by the budget. */
const SMALLEST_ENTRY = entry3Size(1);

function entryBudget(clientBytes: number): number {
  return Math.max(0, Math.min(clientBytes, MAX_DIRECTORY_REPLY) - readdirResOkBaseSize(true));
}

function nameBytes(name: string): number {
  return Buffer.byteLength(name, 'utf8');
}

export function directoryProcedures(nfs: NfsContext, p: Nfs3Program['procedures']): Record<number, RpcProcedure> {
  const { fs } = nfs;
  const handleBytes = fs.handleFor(fs.rootId).length;

  return {
    [Nfs3Proc.READDIR]: nfsProcedure(nfs, p.READDIR, readdir3Res, async ({ dir, cookie, cookieverf, count }, _call, onFailure) => {
      const id = nfs.idOf(dir);
      onFailure(() => ({ dirAttributes: nfs.postOp(id) }));
      const budget = entryBudget(count);
      const page = await fs.readdir(id, {
        cookie,
        verifier: verifierValue(cookieverf),
        withAttributes: false,
        maxEntries: Math.floor(budget / SMALLEST_ENTRY) + 1,
        maxBytes: budget,
        entryBytes: (name) => entry3Size(nameBytes(name)),
      });
      const entries = page.entries.map((e): Entry3 => ({ fileid: e.fileid, name: e.name, cookie: e.cookie }));
      return {
        dirAttributes: nfs.attr(page.dirAttributes),
        cookieverf: verifierBytes(page.verifier),
        reply: { entries, eof: page.eof },
      };
    }),

    [Nfs3Proc.READDIRPLUS]: nfsProcedure(
      nfs,
      p.READDIRPLUS,
      readdirplus3Res,
      async ({ dir, cookie, cookieverf, maxcount }, _call, onFailure) => {
        const id = nfs.idOf(dir);
        onFailure(() => ({ dirAttributes: nfs.postOp(id) }));
        const budget = entryBudget(maxcount);
        const page = await fs.readdir(id, {
          cookie,
          verifier: verifierValue(cookieverf),
          withAttributes: true,
          maxEntries: Math.floor(budget / SMALLEST_ENTRY) + 1,
          maxBytes: budget,
          // Charged as if every entry carries attributes and a handle (they all do).
          entryBytes: (name) => entryplus3Size(nameBytes(name), true, handleBytes),
        });
        const entries = page.entries.map(
          (e): Entryplus3 => ({
            fileid: e.fileid,
            name: e.name,
            cookie: e.cookie,
            nameAttributes: nfs.attr(e.attributes),
            nameHandle: fs.handleFor(e.fileid),
          }),
        );
        return {
          dirAttributes: nfs.attr(page.dirAttributes),
          cookieverf: verifierBytes(page.verifier),
          reply: { entries, eof: page.eof },
        };
      },
    ),
  };
}
