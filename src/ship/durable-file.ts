// Crash-safe file replacement for the agent's on-disk state (the spool's ack file, the readings
// checkpoint): the new content is written to a temporary file and fsynced, renamed over the old
// one, and the directory fsynced, so after a crash the file is either the old or the new whole.
import { open, rename } from 'node:fs/promises';

/** fsync of a directory: makes a rename, create or unlink in it durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `path` (in `dir`) with `data`, durably (mode 0600). */
export async function writeFileDurably(dir: string, path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await syncDir(dir);
}
