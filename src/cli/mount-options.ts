// fstab-style options (`-o ro,uid=1000,endpoint_url=http://h:7480`) turned into serve flags, so the
// same words work in an fstab line, a systemd mount unit or a command line. Options that are meant
// for the kernel or for mount(8) itself are skipped; anything else unknown is an error naming it.

import {
  coerceFlagValue,
  flagName,
  parseBoolean,
  serveFlagSpec,
  unknownKeyMessage,
  type FlagSpec,
} from './config-file.js';
import { UsageError } from './serve-options.js';

/** Options for mount(8), the kernel's VFS or systemd, not for s3nfs: accepted and ignored. */
const KERNEL_OPTIONS = new Set([
  'defaults',
  'auto',
  'noauto',
  'user',
  'nouser',
  'users',
  'owner',
  'group',
  '_netdev',
  'nofail',
  'exec',
  'noexec',
  'suid',
  'nosuid',
  'dev',
  'nodev',
  'sync',
  'async',
  'dirsync',
  'atime',
  'noatime',
  'diratime',
  'nodiratime',
  'relatime',
  'norelatime',
  'strictatime',
  'nostrictatime',
  'lazytime',
  'nolazytime',
  'iversion',
  'noiversion',
  'mand',
  'nomand',
  'silent',
  'loud',
  'symfollow',
  'nosymfollow',
]);

/** Option names that are not flag names. */
const ALIASES: Readonly<Record<string, { flag: string; value: boolean }>> = {
  ro: { flag: 'read-only', value: true },
  rw: { flag: 'read-only', value: false },
};

export interface MountOptions {
  /** yargs-style entries: `--read-only`, `--no-allow-delete`, `--uid=1000`. One per flag. */
  argv: string[];
  /** The options skipped as the kernel's or mount(8)'s. */
  ignored: string[];
}

function isIgnored(name: string): boolean {
  // x-* options are for user space by definition (x-systemd.requires=…, x-mount.mkdir); comment= too.
  return KERNEL_OPTIONS.has(name) || name.startsWith('x-') || name === 'comment';
}

/** Splits on commas outside double quotes; a value may be quoted to hold commas: `a="x,y"`. */
function splitOptions(options: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (const c of options) {
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      out.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  if (quoted) throw new UsageError(`-o: unterminated quote in "${options}"`);
  out.push(current);
  return out.map((o) => o.trim()).filter((o) => o !== '');
}

/** Parses one `-o` string into serve flags; the last mention of a flag wins, as with mount(8). */
export function parseMountOptions(options: string, spec: FlagSpec = serveFlagSpec()): MountOptions {
  const flags = new Map<string, string | number | boolean>();
  const ignored: string[] = [];
  const set = (flag: string, value: string | number | boolean) => {
    flags.delete(flag);
    flags.set(flag, value);
  };
  for (const option of splitOptions(options)) {
    const eq = option.indexOf('=');
    const name = eq < 0 ? option : option.slice(0, eq);
    let value = eq < 0 ? undefined : option.slice(eq + 1);
    if (value !== undefined && value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    if (isIgnored(name)) {
      ignored.push(option);
      continue;
    }
    const alias = ALIASES[name];
    if (alias !== undefined) {
      if (value !== undefined) throw new UsageError(`-o ${option}: "${name}" takes no value`);
      set(alias.flag, alias.value);
      continue;
    }
    const flag = flagName(name);
    const info = spec.get(flag);
    if (info === undefined) {
      const negated = /^no[-_]/.test(name) ? flagName(name.slice(3)) : undefined;
      if (negated !== undefined && spec.get(negated)?.kind === 'boolean') {
        if (value !== undefined) throw new UsageError(`-o ${option}: "${name}" takes no value`);
        set(negated, false);
        continue;
      }
      throw new UsageError(`-o: ${unknownKeyMessage(name, spec).replace('unknown option', 'unknown mount option')}`);
    }
    if (value === undefined) {
      if (info.kind !== 'boolean') throw new UsageError(`-o ${option}: needs a value (${name}=…)`);
      set(flag, true);
      continue;
    }
    if (info.kind === 'boolean' && parseBoolean(value) === undefined) {
      throw new UsageError(`-o ${option}: expected ${name}, no-${name} or ${name}=true|false`);
    }
    const r = coerceFlagValue(info, value);
    if ('problem' in r) throw new UsageError(`-o ${option}: ${r.problem}`);
    set(flag, r.value);
  }
  const argv: string[] = [];
  for (const [flag, value] of flags) {
    if (value === true) argv.push(`--${flag}`);
    else if (value === false) argv.push(`--no-${flag}`);
    else argv.push(`--${flag}=${value}`);
  }
  return { argv, ignored };
}

/**
 * Replaces each `-o OPTIONS` (or `-oOPTIONS`) in a command line with the flags it stands for, before
 * yargs parses it. Arguments after `--` are left alone.
 */
export function expandMountOptions(args: readonly string[], spec: FlagSpec = serveFlagSpec()): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (a === '-o') {
      const next = args[i + 1];
      if (next === undefined) throw new UsageError('-o needs a list of options, e.g. -o ro,uid=1000');
      out.push(...parseMountOptions(next, spec).argv);
      i++;
    } else if (a.startsWith('-o') && !a.startsWith('--')) {
      out.push(...parseMountOptions(a.slice(2), spec).argv);
    } else {
      out.push(a);
    }
  }
  return out;
}
