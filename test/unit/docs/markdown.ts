// Reading the project's Markdown for the doc tests: where the repository is, sections by heading,
// tables (GitHub style, one row per line) and the code spans in a cell. Just enough Markdown for
// the docs this project writes; anything it cannot read is a test failure, not a guess.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest directory above this file that holds package.json. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('no package.json above the test file');
    dir = up;
  }
}

/** A file of the repository as text. */
export function readRepoFile(relative: string): string {
  return readFileSync(path.join(repoRoot(), relative), 'utf8');
}

export interface Table {
  header: string[];
  rows: string[][];
  /** 1-based line of the header row, for messages. */
  line: number;
}

/** Splits a table row into cells on `|` that is neither escaped nor inside a code span. */
export function splitRow(line: string): string[] {
  const body = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  const cells: string[] = [];
  let current = '';
  let inCode = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\' && body[i + 1] === '|') {
      current += '|';
      i++;
    } else if (c === '`') {
      inCode = !inCode;
      current += c;
    } else if (c === '|' && !inCode) {
      cells.push(current.trim());
      current = '';
    } else {
      current += c;
    }
  }
  cells.push(current.trim());
  return cells;
}

/** The table that starts at `start` (a header row), or undefined when no table starts there. */
function tableAt(lines: readonly string[], start: number): Table | undefined {
  const head = lines[start];
  const separator = lines[start + 1];
  if (head === undefined || separator === undefined) return undefined;
  if (!head.trim().startsWith('|') || !/^\s*\|?\s*:?-{3,}/.test(separator)) return undefined;
  const header = splitRow(head);
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.trim().startsWith('|'); i++) {
    const cells = splitRow(lines[i]!);
    if (cells.length !== header.length) {
      throw new Error(`line ${i + 1}: ${cells.length} cells in a table of ${header.length} columns`);
    }
    rows.push(cells);
  }
  return { header, rows, line: start + 1 };
}

/** Every table in the text. */
export function tables(markdown: string): Table[] {
  const lines = markdown.split('\n');
  const out: Table[] = [];
  for (let i = 0; i < lines.length; i++) {
    const t = tableAt(lines, i);
    if (t) {
      out.push(t);
      i += t.rows.length + 1;
    }
  }
  return out;
}

/**
 * The tables that follow a `<!-- checked: NAME -->` comment (blank lines may come between), in
 * document order. A marker with no table after it is an error.
 */
export function checkedTables(markdown: string, name: string): Table[] {
  const lines = markdown.split('\n');
  const out: Table[] = [];
  const marker = `<!-- checked: ${name} -->`;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== marker) continue;
    let j = i + 1;
    while (j < lines.length && lines[j]!.trim() === '') j++;
    const t = tableAt(lines, j);
    if (!t) throw new Error(`line ${i + 1}: "${marker}" is not followed by a table`);
    out.push(t);
  }
  return out;
}

/**
 * The text under a heading (its exact text, without the #s) up to the next heading of the same
 * or a higher level. Throws when the heading is missing.
 */
export function section(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  let level = 0;
  let start = -1;
  for (let i = 0; i < lines.length; i++) {
    const m = /^(#{1,6})\s+(.*?)\s*$/.exec(lines[i]!);
    if (!m) continue;
    if (start < 0) {
      if (m[2] === heading) {
        level = m[1]!.length;
        start = i + 1;
      }
    } else if (m[1]!.length <= level) {
      return lines.slice(start, i).join('\n');
    }
  }
  if (start < 0) throw new Error(`no heading "${heading}"`);
  return lines.slice(start).join('\n');
}

/** The headings of a given level, in order. */
export function headings(markdown: string, level: number): string[] {
  const re = new RegExp(`^#{${level}}\\s+(.*?)\\s*$`);
  const out: string[] = [];
  for (const line of markdown.split('\n')) {
    const m = re.exec(line);
    if (m && !line.startsWith('#'.repeat(level + 1))) out.push(m[1]!);
  }
  return out;
}

/** The contents of the code spans in a cell, in order. */
export function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

/** The column index of a header, or an error naming the table. */
export function column(table: Table, name: string): number {
  const i = table.header.indexOf(name);
  if (i < 0) throw new Error(`table at line ${table.line} has no column "${name}" (it has: ${table.header.join(', ')})`);
  return i;
}
