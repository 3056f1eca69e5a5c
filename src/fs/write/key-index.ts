// Staged keys arranged by directory, so the namespace's questions ("is `a/b/` a directory because
// something is staged under it?", "what is staged directly in `a/`?") cost one map lookup instead
// of a scan of every staged file. Directories are key prefixes ending in '/'; '' is the top.

interface Level {
  /** Keys directly at this level. */
  files: Set<string>;
  /** Prefixes one level down, with how many keys each holds at any depth. */
  dirs: Map<string, number>;
}

export class KeyIndex {
  private readonly levels = new Map<string, Level>();

  add(key: string): void {
    let parent = '';
    for (let cut = key.indexOf('/'); cut >= 0; cut = key.indexOf('/', cut + 1)) {
      const dir = key.slice(0, cut + 1);
      const level = this.level(parent);
      level.dirs.set(dir, (level.dirs.get(dir) ?? 0) + 1);
      parent = dir;
    }
    this.level(parent).files.add(key);
  }

  remove(key: string): void {
    const parentOfKey = key.slice(0, key.lastIndexOf('/') + 1);
    const leaf = this.levels.get(parentOfKey);
    if (!leaf?.files.delete(key)) return;
    let parent = '';
    for (let cut = key.indexOf('/'); cut >= 0; cut = key.indexOf('/', cut + 1)) {
      const dir = key.slice(0, cut + 1);
      const level = this.levels.get(parent)!;
      const n = (level.dirs.get(dir) ?? 1) - 1;
      if (n > 0) level.dirs.set(dir, n);
      else level.dirs.delete(dir);
      this.prune(parent);
      parent = dir;
    }
    this.prune(parentOfKey);
  }

  /** True when some key starts with `dirPrefix` (which ends in '/'). */
  hasUnder(dirPrefix: string): boolean {
    return this.levels.has(dirPrefix);
  }

  /** Keys directly under `dirPrefix`, and the sub-prefixes (ending in '/') that hold keys. */
  children(dirPrefix: string): { files: string[]; dirs: string[] } {
    const level = this.levels.get(dirPrefix);
    return level ? { files: [...level.files], dirs: [...level.dirs.keys()] } : { files: [], dirs: [] };
  }

  private level(prefix: string): Level {
    let level = this.levels.get(prefix);
    if (!level) {
      level = { files: new Set(), dirs: new Map() };
      this.levels.set(prefix, level);
    }
    return level;
  }

  private prune(prefix: string): void {
    const level = this.levels.get(prefix);
    if (level && level.files.size === 0 && level.dirs.size === 0) this.levels.delete(prefix);
  }
}
