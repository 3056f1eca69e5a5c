// `--config FILE`: serve options from a JSON or YAML file, with the long flags' names (kebab-case or
// snake_case). Keys and value types are checked against the flags yargs knows, so a typo names the
// key and line instead of being ignored. YAML is a flat subset (key: value, comments, quoted strings,
// booleans, numbers) parsed here without a dependency; anything beyond it is an error with its line.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import yargs, { type Argv } from 'yargs';
import { serveFlags, UsageError } from './serve-options.js';

export type FlagKind = 'boolean' | 'number' | 'string';

export interface FlagInfo {
  kind: FlagKind;
  choices?: readonly string[];
}

/** The long flags a command accepts, by name (kebab-case, no leading dashes). */
export type FlagSpec = ReadonlyMap<string, FlagInfo>;

/** A config value as yargs takes it, keyed by the flag's kebab-case name. */
export type ConfigValues = Record<string, string | number | boolean>;

export class ConfigFileError extends UsageError {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigFileError';
  }
}

/** yargs' own record of its declared options (a public method its type declarations leave out). */
interface DeclaredOptions {
  key: Record<string, unknown>;
  boolean: string[];
  number: string[];
  string: string[];
  choices: Record<string, unknown[]>;
}

/** Flags that only make sense on a command line. */
const NOT_SETTINGS = new Set(['help', 'version', 'config']);

/** Reads the flags declared on a yargs instance. */
export function flagSpecOf<T>(y: Argv<T>): FlagSpec {
  const withOptions = y as unknown as { getOptions?: () => DeclaredOptions };
  if (typeof withOptions.getOptions !== 'function') throw new Error('this yargs version has no getOptions()');
  const o = withOptions.getOptions();
  const spec = new Map<string, FlagInfo>();
  for (const name of Object.keys(o.key)) {
    if (NOT_SETTINGS.has(name)) continue;
    const kind: FlagKind = o.boolean.includes(name) ? 'boolean' : o.number.includes(name) ? 'number' : 'string';
    const choices = o.choices[name];
    spec.set(name, choices ? { kind, choices: choices.map(String) } : { kind });
  }
  return spec;
}

let serveSpec: FlagSpec | undefined;

/** The `serve` command's flags (including the `target` positional). */
export function serveFlagSpec(): FlagSpec {
  serveSpec ??= flagSpecOf(serveFlags(yargs([])));
  return serveSpec;
}

// ---- shared value rules (also used for mount options) ---------------------------------------------

const TRUE_WORDS = new Set(['true', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', 'no', 'off']);

/** true/false, yes/no, on/off in any case; undefined for anything else. */
export function parseBoolean(text: string): boolean | undefined {
  const t = text.toLowerCase();
  return TRUE_WORDS.has(t) ? true : FALSE_WORDS.has(t) ? false : undefined;
}

const NUMBER = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/**
 * Converts a value for flag `name` to the type yargs expects, or returns the problem as a sentence.
 * Strings come from YAML scalars and mount options; numbers and booleans from JSON.
 */
export function coerceFlagValue(
  info: FlagInfo,
  value: unknown,
): { value: string | number | boolean } | { problem: string } {
  let out: string | number | boolean;
  switch (info.kind) {
    case 'boolean': {
      const b = typeof value === 'boolean' ? value : typeof value === 'string' ? parseBoolean(value) : undefined;
      if (b === undefined) return { problem: `expected true or false, got ${describe(value)}` };
      out = b;
      break;
    }
    case 'number': {
      const n =
        typeof value === 'number' ? value : typeof value === 'string' && NUMBER.test(value.trim()) ? Number(value) : NaN;
      if (!Number.isFinite(n)) return { problem: `expected a number, got ${describe(value)}` };
      out = n;
      break;
    }
    case 'string':
      if (typeof value === 'number' && Number.isFinite(value)) out = String(value);
      else if (typeof value === 'string') out = value;
      else return { problem: `expected a string, got ${describe(value)}` };
      break;
  }
  if (info.choices && !info.choices.includes(String(out))) {
    return { problem: `${describe(out)} is not one of: ${info.choices.join(', ')}` };
  }
  return { value: out };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** The flag name for a key written in kebab-case or snake_case. */
export function flagName(key: string): string {
  return key.replace(/_/g, '-');
}

/** A hint for a misspelt key: a known flag that differs by case, separators or two edits. */
export function suggestFlag(key: string, spec: FlagSpec): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const k = squash(key);
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of spec.keys()) {
    const d = editDistance(k, squash(name));
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length]!;
}

export function unknownKeyMessage(key: string, spec: FlagSpec): string {
  const hint = suggestFlag(key, spec);
  return `unknown option "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}`;
}

// ---- the flat YAML subset ---------------------------------------------------------------------------

export interface YamlScalar {
  /** The value's text, unquoted and unescaped. */
  text: string;
  quoted: boolean;
}

export interface YamlEntry {
  key: string;
  value: YamlScalar;
  /** 1-based. */
  line: number;
}

/** Parses `key: value` lines; throws ConfigFileError naming `source` and the line for anything else. */
export function parseFlatYaml(text: string, source: string): YamlEntry[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const entries: YamlEntry[] = [];
  let seenContent = false;
  let ended = false;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const fail = (msg: string): never => {
      throw new ConfigFileError(`${source}:${lineNo}: ${msg}`);
    };
    const line = lines[i]!;
    const body = line.trimEnd();
    if (body.trim() === '' || /^\s*#/.test(body)) continue;
    if (ended) fail('nothing may follow the document end marker "..."');
    if (/^---(\s+#.*)?$/.test(body)) {
      if (seenContent) fail('only one YAML document is supported (a second "---")');
      seenContent = true;
      continue;
    }
    if (/^\.\.\.(\s+#.*)?$/.test(body)) {
      ended = true;
      continue;
    }
    seenContent = true;
    if (/^\s/.test(body)) fail('indented lines are not supported: write one flat "key: value" per line');
    if (body.startsWith('%')) fail('YAML directives (%) are not supported');
    if (/^-(\s|$)/.test(body)) fail('lists are not supported: write one flat "key: value" per line');
    if (/^["']/.test(body)) fail('quoted keys are not supported: write the option name plainly');
    if (/^[[{]/.test(body)) fail('flow collections ({…} or […]) are not supported; use a .json file for JSON');
    const colon = body.search(/:(\s|$)/);
    if (colon < 0) fail(`expected "key: value"${body.includes(':') ? ' (with a space after the colon)' : ''}`);
    const key = body.slice(0, colon);
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(key)) fail(`"${key}" is not an option name`);
    const value = parseScalar(body.slice(colon + 1).trim(), fail);
    entries.push({ key, value, line: lineNo });
  }
  return entries;
}

function parseScalar(raw: string, fail: (msg: string) => never): YamlScalar {
  if (raw === '' || raw.startsWith('#')) {
    fail('no value: nested mappings are not supported (to use the default, leave the key out)');
  }
  const first = raw[0]!;
  if (first === '"' || first === "'") {
    const { text, rest } = first === '"' ? doubleQuoted(raw, fail) : singleQuoted(raw, fail);
    if (rest.trim() !== '' && !/^\s+#/.test(rest)) fail('unexpected text after the quoted value');
    return { text, quoted: true };
  }
  if (first === '[' || first === '{') fail('flow collections ({…} or […]) are not supported');
  if (first === '|' || first === '>') fail('block scalars (| and >) are not supported: write the value on one line');
  if (first === '&' || first === '*') fail('anchors and aliases (& and *) are not supported');
  if (first === '!') fail('tags (!) are not supported');
  if ('@`%'.includes(first)) fail(`a value starting with "${first}" must be quoted`);
  if (/^[-?:](\s|$)/.test(raw)) fail('lists and complex keys are not supported: the value must be a single scalar');
  // A comment starts at " #"; a "#" inside a word belongs to the value.
  const hash = raw.search(/\s#/);
  const text = (hash < 0 ? raw : raw.slice(0, hash)).trimEnd();
  if (/:(\s|$)/.test(text)) fail('a value containing ": " must be quoted');
  if (/^(null|Null|NULL|~)$/.test(text)) fail('null values are not supported (to use the default, leave the key out)');
  return { text, quoted: false };
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '0': '\0',
  a: '\x07',
  b: '\b',
  t: '\t',
  '\t': '\t',
  n: '\n',
  v: '\v',
  f: '\f',
  r: '\r',
  e: '\x1b',
  ' ': ' ',
  '"': '"',
  '/': '/',
  '\\': '\\',
};

const HEX_ESCAPES: Record<string, number> = { x: 2, u: 4, U: 8 };

function doubleQuoted(raw: string, fail: (msg: string) => never): { text: string; rest: string } {
  let text = '';
  for (let i = 1; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '"') return { text, rest: raw.slice(i + 1) };
    if (c !== '\\') {
      text += c;
      continue;
    }
    const e = raw[++i];
    if (e === undefined) break;
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      text += simple;
      continue;
    }
    const width = HEX_ESCAPES[e];
    const hex = width === undefined ? '' : raw.slice(i + 1, i + 1 + width);
    if (width === undefined || !new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) {
      fail(`bad escape "\\${e}" in a quoted value`);
    }
    const code = parseInt(hex, 16);
    if (code > 0x10ffff) fail(`bad escape "\\${e}${hex}" in a quoted value`);
    text += String.fromCodePoint(code);
    i += width;
  }
  return fail('unterminated quoted value (a quoted value must end on its line)');
}

function singleQuoted(raw: string, fail: (msg: string) => never): { text: string; rest: string } {
  let text = '';
  for (let i = 1; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== "'") {
      text += c;
    } else if (raw[i + 1] === "'") {
      text += "'";
      i++;
    } else {
      return { text, rest: raw.slice(i + 1) };
    }
  }
  return fail('unterminated quoted value (a quoted value must end on its line)');
}

// ---- files ------------------------------------------------------------------------------------------

/** Checks one key and value against the flags; `where` prefixes messages (file and line). */
function settle(
  out: ConfigValues,
  firstSeen: Map<string, string>,
  spec: FlagSpec,
  key: string,
  value: unknown,
  where: string,
): void {
  const name = flagName(key);
  const info = spec.get(name);
  if (info === undefined) throw new ConfigFileError(`${where}: ${unknownKeyMessage(key, spec)}`);
  const earlier = firstSeen.get(name);
  if (earlier !== undefined) throw new ConfigFileError(`${where}: "${key}" repeats ${earlier}`);
  firstSeen.set(name, where);
  const r = coerceFlagValue(info, value);
  if ('problem' in r) throw new ConfigFileError(`${where}: ${key}: ${r.problem}`);
  out[name] = r.value;
}

export function configFromYaml(text: string, source: string, spec: FlagSpec = serveFlagSpec()): ConfigValues {
  const out: ConfigValues = {};
  const seen = new Map<string, string>();
  for (const e of parseFlatYaml(text, source)) {
    settle(out, seen, spec, e.key, e.value.text, `${source}:${e.line}`);
  }
  return out;
}

export function configFromJson(text: string, source: string, spec: FlagSpec = serveFlagSpec()): ConfigValues {
  let doc: unknown;
  try {
    doc = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const pos = /position (\d+)/.exec(message);
    const line = pos ? `:${text.slice(0, Number(pos[1])).split('\n').length}` : '';
    throw new ConfigFileError(`${source}${line}: invalid JSON: ${message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigFileError(`${source}: the JSON must be an object of option names to values`);
  }
  const out: ConfigValues = {};
  const seen = new Map<string, string>();
  for (const [key, value] of Object.entries(doc)) {
    settle(out, seen, spec, key, value, `${source}: "${key}"`);
  }
  return out;
}

/** Parses by extension (.json, .yaml, .yml); otherwise JSON when the text starts with "{", else YAML. */
export function parseConfigText(text: string, source: string, spec: FlagSpec = serveFlagSpec()): ConfigValues {
  const ext = path.extname(source).toLowerCase();
  const json = ext === '.json' || (ext !== '.yaml' && ext !== '.yml' && text.trimStart().startsWith('{'));
  return json ? configFromJson(text, source, spec) : configFromYaml(text, source, spec);
}

export function loadConfigFile(file: string, spec: FlagSpec = serveFlagSpec()): ConfigValues {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(err);
    throw new ConfigFileError(`cannot read config file ${file}: ${why}`);
  }
  return parseConfigText(text, file, spec);
}

/**
 * Adds `--config FILE` to a command. Flags given on the command line override the file's values.
 * (For the file to name the bucket, the command's positional must be optional: `serve [target]`.)
 */
export function withConfigFile<T>(y: Argv<T>, spec?: FlagSpec): Argv<T> {
  return y.config('config', 'JSON or YAML file of options, named like the long flags', (file: string) =>
    loadConfigFile(file, spec ?? serveFlagSpec()),
  );
}
