// What this server knows that S3 does not show yet: directories made with MKDIR (S3 has no empty
// directories) and files being written or staged for upload. The write path (src/fs/write) keeps
// this state; the namespace consults it on every LOOKUP, GETATTR and READDIR and merges it with
// the bucket by the rules of ARCHITECTURE.md §2: a directory (local or remote) shadows a file of
// the same name, and a local file shadows a remote file (it is the newer version).

import type { FsTime } from './attributes.js';
import type { EntryKind } from './handle-store.js';

export interface LocalFileInfo {
  /** Current size of the staged file. */
  size: number;
  mtime: FsTime;
}

export interface LocalEntry {
  name: string;
  kind: EntryKind;
  /** Present for files. */
  file?: LocalFileInfo;
}

export interface LocalState {
  /** True when `path` (inside the export, never '') is a directory created here. */
  isLocalDirectory(path: string): boolean;
  /** The file being written or staged at `path`, if any. */
  localFile(path: string): LocalFileInfo | undefined;
  /** Local directories and files directly inside `dirPath` ('' is the root). */
  localChildren(dirPath: string): readonly LocalEntry[];
  /** Reads a local file's staged bytes (read-your-writes before the object is published). */
  readLocalFile(path: string, offset: number, count: number): Promise<{ data: Buffer; eof: boolean }>;
}

/** No local state: the read-only slice, and every test of the bucket mapping alone. */
export class NoLocalState implements LocalState {
  isLocalDirectory(): boolean {
    return false;
  }

  localFile(): LocalFileInfo | undefined {
    return undefined;
  }

  localChildren(): readonly LocalEntry[] {
    return [];
  }

  async readLocalFile(path: string): Promise<{ data: Buffer; eof: boolean }> {
    throw new Error(`no local file at '${path}'`);
  }
}
