// The agent's checkpoint in the spool directory: the raw counter readings of every VM at the last
// window handed on, and the batches that carry the deltas up to them which may not be spooled yet.
//
// Crash ordering. The checkpoint is written (temp file, fsync, rename, fsync of the directory)
// before its batches are appended to the spool. After a crash at any point the next start finds
// either the previous checkpoint (its readings precede the new batch's deltas, which are then
// counted again from those readings and nowhere else, since the new batch never reached the spool)
// or the new one (whose batches it appends again unless the spool still holds them; one that was
// already delivered is answered `duplicate` by the server, which stores a BatchID once). So the
// readings never claim bytes that are not in a durable batch, and no byte lands in two minutes.
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { VmSample } from '../collect/vm-sample.js';
import { syncDir, writeFileDurably } from '../ship/durable-file.js';
import type { CarriedReading } from './agent.js';

export const CHECKPOINT_FILE = 'readings.json';

export interface Checkpoint {
  readonly savedAtMs: number;
  readonly readings: readonly CarriedReading[];
  /** Gzipped batches (spool record bodies) that must be in the spool for the readings to hold. */
  readonly batches: readonly Buffer[];
}

interface CheckpointFile {
  version: 1;
  savedAtMs: number;
  readings: { key: string; instanceId: string; sample: Omit<VmSample, 'errors'> }[];
  batches: string[];
}

export async function writeCheckpoint(dir: string, cp: Checkpoint): Promise<void> {
  const body: CheckpointFile = {
    version: 1,
    savedAtMs: cp.savedAtMs,
    readings: cp.readings.map((r) => {
      const { errors: _errors, ...sample } = r.sample;
      return { key: r.key, instanceId: r.instanceId, sample };
    }),
    batches: cp.batches.map((b) => b.toString('base64')),
  };
  await writeFileDurably(dir, join(dir, CHECKPOINT_FILE), JSON.stringify(body));
}

/** Removes the checkpoint (when a newer one could not be written, the old one must not be used). */
export async function removeCheckpoint(dir: string): Promise<void> {
  await unlink(join(dir, CHECKPOINT_FILE)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await syncDir(dir);
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isNumOrNull = (v: unknown) => v === null || isNum(v);

function validSample(s: unknown): s is Omit<VmSample, 'errors'> {
  if (!s || typeof s !== 'object') return false;
  const x = s as Record<string, unknown>;
  return (
    typeof x.key === 'string' &&
    isNum(x.tMs) &&
    isNum(x.utimeTicks) &&
    isNum(x.stimeTicks) &&
    isNumOrNull(x.diskReadBytes) &&
    isNumOrNull(x.diskWriteBytes) &&
    isNumOrNull(x.vcpuRunNs) &&
    isNumOrNull(x.vcpuWaitNs) &&
    Array.isArray(x.taps) &&
    x.taps.every((t) => t === null || (typeof t === 'object' && typeof (t as { name?: unknown }).name === 'string' && isNum((t as { rxBytes?: unknown }).rxBytes) && isNum((t as { txBytes?: unknown }).txBytes) && isNum((t as { rxPackets?: unknown }).rxPackets) && isNum((t as { txPackets?: unknown }).txPackets)))
  );
}

/**
 * The checkpoint left by the previous run; null when there is none. An unreadable one is reported
 * and ignored: starting fresh loses the gap, which is better than trusting bad readings.
 */
export async function readCheckpoint(dir: string, warn: (msg: string, err: unknown) => void): Promise<Checkpoint | null> {
  let text: string;
  try {
    text = await readFile(join(dir, CHECKPOINT_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warn('checkpoint could not be read; counters start fresh', err);
    return null;
  }
  try {
    const f = JSON.parse(text) as CheckpointFile;
    if (f.version !== 1 || !isNum(f.savedAtMs) || !Array.isArray(f.readings) || !Array.isArray(f.batches)) throw new Error('unknown format');
    const readings: CarriedReading[] = [];
    for (const r of f.readings) {
      if (typeof r?.key !== 'string' || typeof r.instanceId !== 'string' || !validSample(r.sample) || r.sample.key !== r.key) throw new Error('a reading is malformed');
      readings.push({ key: r.key, instanceId: r.instanceId, sample: { ...r.sample, errors: [] } });
    }
    const batches = f.batches.map((b) => {
      if (typeof b !== 'string') throw new Error('a batch is malformed');
      return Buffer.from(b, 'base64');
    });
    return { savedAtMs: f.savedAtMs, readings, batches };
  } catch (err) {
    warn('checkpoint is malformed; counters start fresh', err);
    return null;
  }
}
