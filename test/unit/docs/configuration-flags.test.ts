// docs/configuration.md lists every flag of every command, in the groups `--help` shows, with the
// defaults the code has, and no flag the code does not have. The serve flags are read from
// serveFlags (src/cli/serve-options.ts) itself; the other commands' flags, and what `serve` adds to
// serveFlags, from the built CLI's `--help` (dist/src/cli/main.js, run in a child process).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import yargs from 'yargs';
import { serveFlags } from '../../../src/cli/serve-options.js';
import { codeSpans, column, headings, readRepoFile, repoRoot, section, tables } from './markdown.js';

const doc = readRepoFile('docs/configuration.md');

/** Defaults that depend on who runs the command and where (the doc says how, in words). */
const ENVIRONMENT_DEFAULTS = new Set(['state-dir']);

// ---- what the code says -------------------------------------------------------------------------

interface DeclaredOptions {
  key: Record<string, unknown>;
  boolean: string[];
  default: Record<string, unknown>;
}

interface ServeDeclaration {
  /** Group name without the colon → long flags. */
  groups: Map<string, string[]>;
  defaults: Record<string, unknown>;
  booleans: Set<string>;
}

/** serveFlags as yargs records it (getOptions/getGroups are public methods its types leave out). */
function serveDeclaration(): ServeDeclaration {
  const y = serveFlags(yargs([])) as unknown as { getOptions(): DeclaredOptions; getGroups(): Record<string, string[]> };
  const groups = new Map<string, string[]>();
  for (const [name, keys] of Object.entries(y.getGroups())) {
    if (name === 'Positionals:') continue;
    groups.set(name.replace(/:$/, ''), keys.filter((k) => k.length > 1));
  }
  const o = y.getOptions();
  const declared = Object.keys(o.key).filter((k) => k.length > 1 && k !== 'target' && k !== 'help' && k !== 'version');
  const grouped = [...groups.values()].flat();
  assert.deepEqual(declared.filter((k) => !grouped.includes(k)), [], 'every serve flag is in a --help group');
  return { groups, defaults: o.default, booleans: new Set(o.boolean) };
}

interface HelpFlag {
  group: string;
  /** As --help prints it, without quotes; undefined when it shows none. */
  default?: string;
}

const helpCache = new Map<string, string>();

/** Runs the built CLI's `--help` for a command (or the top level) and returns its text. */
function helpText(command: string | undefined): string {
  const cached = helpCache.get(command ?? '');
  if (cached !== undefined) return cached;
  const main = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const args = command === undefined ? [main, '--help'] : [main, command, '--help'];
  const r = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  assert.equal(r.status, 0, `s3nfs ${command ?? ''} --help failed: ${r.stderr}`);
  helpCache.set(command ?? '', r.stdout);
  return r.stdout;
}

/** Long flags of a `--help` text by group, with the default each shows. */
function parseHelp(text: string): Map<string, HelpFlag> {
  const out = new Map<string, HelpFlag>();
  let group = '';
  let current: { flag: string; text: string } | undefined;
  const settle = (): void => {
    if (!current) return;
    const m = /\[default: ([^\]]*)\]/.exec(current.text);
    const entry: HelpFlag = { group };
    if (m) entry.default = m[1]!.replace(/^"(.*)"$/, '$1');
    out.set(current.flag, entry);
    current = undefined;
  };
  for (const line of text.split('\n')) {
    const heading = /^(\S[^:]*):\s*$/.exec(line);
    const option = /^ {2,6}(?:-[A-Za-z], )?--([a-z0-9][a-z0-9-]*)(.*)$/.exec(line);
    if (heading) {
      settle();
      group = heading[1]!;
    } else if (option) {
      settle();
      current = { flag: option[1]!, text: option[2]! };
    } else if (current && line.trim() !== '') {
      current.text += ` ${line.trim()}`;
    } else {
      settle();
    }
  }
  settle();
  return out;
}

/** The commands the top-level `--help` lists. */
function commands(): string[] {
  return [...helpText(undefined).matchAll(/^ {2}s3nfs (\S+)/gm)].map((m) => m[1]!);
}

// ---- what the doc says --------------------------------------------------------------------------

interface DocFlag {
  flag: string;
  /** The first code span of the Default cell, if any. */
  default?: string;
  /** The `###` heading above its table inside the command's section ('' when none). */
  group: string;
}

/** The flag a table row documents: the first `--name` in the first cell's code spans. */
function flagOfRow(cell: string): string | undefined {
  for (const span of codeSpans(cell)) {
    const m = /--([a-z0-9][a-z0-9-]*)/.exec(span);
    if (m) return m[1];
  }
  return undefined;
}

/** Flag rows of every table in a command's section, with the `###` group each is under. */
function documentedFlags(command: string): Map<string, DocFlag> {
  const text = section(doc, `\`s3nfs ${command}\``);
  const out = new Map<string, DocFlag>();
  const groups = ['', ...headings(text, 3)];
  for (const group of groups) {
    // The text before the first ### belongs to group ''; each ### section to its heading.
    const part = group === '' ? text.split(/^###\s/m)[0]! : section(text, group);
    for (const table of tables(part)) {
      if (table.header[0] !== 'Flag') continue;
      const defaults = column(table, 'Default');
      for (const row of table.rows) {
        const flag = flagOfRow(row[0]!);
        assert.ok(flag, `docs/configuration.md, s3nfs ${command}: "${row[0]}" names no flag`);
        assert.ok(!out.has(flag), `docs/configuration.md, s3nfs ${command}: --${flag} is listed twice`);
        const entry: DocFlag = { flag, group };
        const first = codeSpans(row[defaults]!)[0];
        if (first !== undefined) entry.default = first;
        out.set(flag, entry);
      }
    }
  }
  return out;
}

/** `no-X` written for a boolean X that defaults to true is the flag X. */
function canonical(flag: string, booleans: ReadonlySet<string>): { flag: string; negated: boolean } {
  if (flag.startsWith('no-') && booleans.has(flag.slice(3))) return { flag: flag.slice(3), negated: true };
  return { flag, negated: false };
}

// ---- the tests ----------------------------------------------------------------------------------

test('configuration.md documents every serveFlags flag in its --help group, with its default', () => {
  const declared = serveDeclaration();
  const documented = documentedFlags('serve');
  const byFlag = new Map<string, DocFlag & { negated: boolean }>();
  for (const d of documented.values()) {
    const c = canonical(d.flag, declared.booleans);
    byFlag.set(c.flag, { ...d, flag: c.flag, negated: c.negated });
  }
  for (const [group, flags] of declared.groups) {
    for (const flag of flags) {
      const d = byFlag.get(flag);
      assert.ok(d, `--${flag} (${group}) is not in docs/configuration.md under s3nfs serve`);
      assert.equal(d.group, group, `--${flag} belongs under "### ${group}", as --help groups it`);
      const value = declared.defaults[flag];
      if (value === undefined || ENVIRONMENT_DEFAULTS.has(flag)) continue;
      const expected = d.negated ? String(!value) : String(value);
      assert.equal(d.default, expected, `the default of --${d.negated ? `no-${flag}` : flag}`);
    }
  }
});

test('configuration.md lists, for every command, exactly the flags its --help shows, with their defaults', () => {
  const names = commands();
  assert.ok(names.includes('serve'), `the CLI lists serve: ${names.join(', ')}`);
  const docCommands = headings(doc, 2)
    .map((h) => /^`s3nfs (\S+)`$/.exec(h)?.[1])
    .filter((c): c is string => c !== undefined);
  assert.deepEqual([...docCommands].sort(), [...names].sort(), 'a "## `s3nfs COMMAND`" section per command');

  const serveHelp = parseHelp(helpText('serve'));
  const serveDoc = documentedFlags('serve');
  const booleans = new Set(serveDeclaration().booleans);
  for (const command of names) {
    const help = command === 'serve' ? serveHelp : parseHelp(helpText(command));
    const own = documentedFlags(command);
    const label = `s3nfs ${command}`;
    // Every documented flag exists.
    for (const d of own.values()) {
      const { flag } = canonical(d.flag, booleans);
      assert.ok(help.has(flag), `docs/configuration.md documents --${d.flag} for ${label}, which has no such flag`);
    }
    for (const [flag, h] of help) {
      // Every command has --help; it is documented once, with serve.
      if (flag === 'help' && command !== 'serve') continue;
      const documented = [...own.values()].find((d) => canonical(d.flag, booleans).flag === flag);
      // `mount` takes the serve flags; only the ones it changes are in its own section.
      const inherited = command === 'mount' && !documented ? serveDoc.get(flag) ?? serveDocNegated(serveDoc, flag) : undefined;
      const d = documented ?? inherited;
      assert.ok(d, `--${flag} of ${label} is not in docs/configuration.md`);
      if (command === 'serve') assert.equal(d.group, h.group, `--${flag} belongs under "### ${h.group}"`);
      if (h.default === undefined || ENVIRONMENT_DEFAULTS.has(flag)) continue;
      const negated = d.flag !== flag;
      const expected = negated ? String(h.default !== 'true') : h.default;
      assert.equal(d.default, expected, `the default of --${d.flag} for ${label}${inherited ? ' (as documented for serve)' : ''}`);
    }
  }
});

function serveDocNegated(serveDoc: Map<string, DocFlag>, flag: string): DocFlag | undefined {
  return serveDoc.get(`no-${flag}`);
}

test('every --flag configuration.md mentions anywhere is a flag of some command', () => {
  const known = new Set<string>();
  for (const command of commands()) for (const flag of parseHelp(helpText(command)).keys()) known.add(flag);
  const mentioned = new Set<string>();
  const flagsIn = (text: string): void => {
    for (const m of text.matchAll(/(?:^|[\s,(])--([a-z0-9][a-z0-9-]*)/g)) mentioned.add(m[1]!);
  };
  const fence = /^```[^\n]*\n([\s\S]*?)^```/gm;
  for (const m of doc.matchAll(fence)) flagsIn(m[1]!);
  for (const span of codeSpans(doc.replace(fence, ''))) flagsIn(span);
  const unknown = [...mentioned].filter((f) => !known.has(f) && !(f.startsWith('no-') && known.has(f.slice(3))));
  assert.deepEqual(unknown, [], 'flags mentioned in docs/configuration.md that no command has');
});
