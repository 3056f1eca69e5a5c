// This machine's NFS client, as `s3nfs mount` and `unmount` need it: whether the kernel has one
// (and mount(8) its helper), what is mounted where (/proc/mounts), and running mount/umount.

import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/** Whether a /proc/filesystems text lists the NFS client ("nodev\tnfs"). */
export function listsNfs(filesystems: string): boolean {
  return filesystems.split('\n').some((line) => {
    const fields = line.trim().split(/\s+/);
    const name = fields[fields.length - 1];
    return name === 'nfs' || name === 'nfs4';
  });
}

function readFilesystems(): string {
  try {
    return readFileSync('/proc/filesystems', 'utf8');
  } catch {
    return '';
  }
}

export const MOUNT_HELPERS: readonly string[] = ['/sbin/mount.nfs', '/usr/sbin/mount.nfs'];

export interface NfsClientCheck {
  /** Reads /proc/filesystems. */
  filesystems?: () => string;
  /** Tries to load the nfs module; returns why it failed, or undefined. */
  loadModule?: () => string | undefined;
  /** Whether mount(8)'s NFS helper is installed. */
  haveHelper?: () => boolean;
}

function modprobeNfs(): string | undefined {
  const r = spawnSync('modprobe', ['nfs'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) return (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'modprobe is not installed' : r.error.message;
  if (r.status !== 0) return (r.stderr || `exit status ${r.status}`).trim().split('\n')[0];
  return undefined;
}

/**
 * Why this machine cannot mount NFS, as one sentence, or undefined when it can. Loads the nfs
 * module when the kernel has it as a module that is not loaded yet.
 */
export function nfsClientProblem(check: NfsClientCheck = {}): string | undefined {
  const filesystems = check.filesystems ?? readFilesystems;
  if (!listsNfs(filesystems())) {
    const failure = (check.loadModule ?? modprobeNfs)();
    if (!listsNfs(filesystems())) {
      return (
        `this kernel has no NFS client ("nfs" is not in /proc/filesystems` +
        `${failure ? ` and "modprobe nfs" failed: ${failure}` : ''}), so s3nfs cannot mount here; ` +
        `run "s3nfs serve" and mount from a machine whose kernel has one`
      );
    }
  }
  const haveHelper = check.haveHelper ?? (() => MOUNT_HELPERS.some((p) => existsSync(p)));
  if (!haveHelper()) return 'mount.nfs is not installed (Debian/Ubuntu: apt-get install nfs-common; Fedora: dnf install nfs-utils)';
  return undefined;
}

export interface MountEntry {
  device: string;
  mountpoint: string;
  type: string;
  options: string;
}

/** /proc/mounts escapes space, tab, newline and backslash as octal (\040). */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 4) continue;
    out.push({
      device: unescapeMountField(f[0]!),
      mountpoint: unescapeMountField(f[1]!),
      type: f[2]!,
      options: f[3]!,
    });
  }
  return out;
}

export function currentMounts(): MountEntry[] {
  try {
    return parseMounts(readFileSync('/proc/mounts', 'utf8'));
  } catch {
    return [];
  }
}

/** The NFS mount at exactly this directory, if any (the last one: mounts stack). */
export function nfsMountAt(dir: string, mounts: readonly MountEntry[] = currentMounts()): MountEntry | undefined {
  return mounts.filter((m) => m.mountpoint === dir && (m.type === 'nfs' || m.type === 'nfs4')).at(-1);
}

/** Whether anything is mounted at exactly this directory. */
export function isMountPoint(dir: string, mounts: readonly MountEntry[] = currentMounts()): boolean {
  return mounts.some((m) => m.mountpoint === dir);
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCommand(file: string, args: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(file, [...args], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
      resolve({ code, stdout, stderr: stderr || (err && typeof err.code !== 'number' ? err.message : '') });
    });
  });
}

/** The mount(8) options for an s3nfs server reached at a known port (no portmapper needed). */
export function mountOptionsFor(port: number, readOnly: boolean): string {
  // nolock: locks are kept by this machine's kernel, which is right for the processes of this
  // machine (the only ones that use this mount); no lock manager is asked over the network.
  return `vers=3,proto=tcp,port=${port},mountport=${port},mountproto=tcp,nolock${readOnly ? ',ro' : ''}`;
}
