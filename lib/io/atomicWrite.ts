/**
 * Atomic file replacement: readers see either the old content or the new content, never a
 * partial file, even if the process dies mid-write.
 *
 * Steps: write to a uniquely named temporary file in the target's directory (same file
 * system, so the rename is atomic), fsync it, rename it over the target, then fsync the
 * directory so the rename itself is durable. On any failure the temporary file is removed
 * and the target is left untouched.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** Content accepted by the writers. */
export type AtomicWriteData = string | Uint8Array;

function tempPathFor(target: string): string {
  const abs = resolve(target);
  return join(dirname(abs), `.${basename(abs)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

// Directory fsync is unsupported on some platforms / file systems (Windows, some network
// mounts); the rename has still happened, so those errors are not failures.
const DIR_SYNC_IGNORED = new Set(['EISDIR', 'EPERM', 'EINVAL', 'EACCES', 'ENOTSUP', 'EBADF']);

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    ? (err as { code: string }).code
    : undefined;
}

/** Mode bits of the existing target, to keep them on the replacement (default: 0o666 & ~umask). */
async function existingMode(target: string): Promise<number | undefined> {
  try {
    return (await fsp.stat(target)).mode & 0o7777;
  } catch {
    return undefined;
  }
}

function existingModeSync(target: string): number | undefined {
  try {
    return fs.statSync(target).mode & 0o7777;
  } catch {
    return undefined;
  }
}

/**
 * Atomically replaces (or creates) `path` with `data`.
 * Errors from the file system (missing directory, permissions, disk full) are rethrown as is,
 * after the temporary file has been removed; the previous content of `path` is kept.
 */
export async function writeFileAtomic(path: string, data: AtomicWriteData): Promise<void> {
  const target = resolve(path);
  const tmp = tempPathFor(target);
  const mode = await existingMode(target);
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, 'wx', mode ?? 0o666);
    if (mode !== undefined) await fh.chmod(mode).catch(() => undefined);
    if (typeof data === 'string') await fh.writeFile(data, 'utf8');
    else await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, target);
  } catch (err) {
    if (fh !== undefined) await fh.close().catch(() => undefined);
    await fsp.unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dirname(target));
}

async function syncDir(dir: string): Promise<void> {
  let dh: fsp.FileHandle | undefined;
  try {
    dh = await fsp.open(dir, 'r');
    await dh.sync();
  } catch (err) {
    if (!DIR_SYNC_IGNORED.has(errCode(err) ?? '')) throw err;
  } finally {
    await dh?.close().catch(() => undefined);
  }
}

/** Synchronous {@link writeFileAtomic}. */
export function writeFileAtomicSync(path: string, data: AtomicWriteData): void {
  const target = resolve(path);
  const tmp = tempPathFor(target);
  const mode = existingModeSync(target);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', mode ?? 0o666);
    if (mode !== undefined) {
      try {
        fs.fchmodSync(fd, mode);
      } catch {
        /* keep the umask-filtered mode */
      }
    }
    if (typeof data === 'string') fs.writeFileSync(fd, data, 'utf8');
    else fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing; keep the first error */
      }
    }
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* the temp file may not exist */
    }
    throw err;
  }
  let dfd: number | undefined;
  try {
    dfd = fs.openSync(dirname(target), 'r');
    fs.fsyncSync(dfd);
  } catch (err) {
    if (!DIR_SYNC_IGNORED.has(errCode(err) ?? '')) throw err;
  } finally {
    if (dfd !== undefined) fs.closeSync(dfd);
  }
}
