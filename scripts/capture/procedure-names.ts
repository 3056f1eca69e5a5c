// Names of the procedures seen in captures, for summaries only (RFC 1813, RFC 1833, and the Linux NFSACL
// side protocol). Unknown ones are shown by number.

const NFS3 = [
  'NULL', 'GETATTR', 'SETATTR', 'LOOKUP', 'ACCESS', 'READLINK', 'READ', 'WRITE', 'CREATE', 'MKDIR', 'SYMLINK',
  'MKNOD', 'REMOVE', 'RMDIR', 'RENAME', 'LINK', 'READDIR', 'READDIRPLUS', 'FSSTAT', 'FSINFO', 'PATHCONF', 'COMMIT',
];
const MOUNT3 = ['NULL', 'MNT', 'DUMP', 'UMNT', 'UMNTALL', 'EXPORT'];
const PMAP2 = ['NULL', 'SET', 'UNSET', 'GETPORT', 'DUMP', 'CALLIT'];
const RPCBIND34 = [
  'NULL', 'SET', 'UNSET', 'GETADDR', 'DUMP', 'CALLIT', 'GETTIME', 'UADDR2TADDR', 'TADDR2UADDR',
  'GETVERSADDR', 'INDIRECT', 'GETADDRLIST', 'GETSTAT',
];
const NFSACL3 = ['NULL', 'GETACL', 'SETACL'];

const PROGRAMS: Record<number, { name: string; procs: (vers: number) => readonly string[] }> = {
  100000: { name: 'PORTMAP', procs: (v) => (v === 2 ? PMAP2 : RPCBIND34) },
  100003: { name: 'NFS', procs: () => NFS3 },
  100005: { name: 'MOUNT', procs: () => MOUNT3 },
  100227: { name: 'NFSACL', procs: () => NFSACL3 },
};

/** e.g. "NFS3 WRITE", "PORTMAP2 GETPORT", "prog 123 v1 proc 4". */
export function procedureName(prog: number, vers: number, proc: number): string {
  const p = PROGRAMS[prog];
  if (!p) return `prog ${prog} v${vers} proc ${proc}`;
  return `${p.name}${vers} ${p.procs(vers)[proc] ?? `proc ${proc}`}`;
}
