// Table rows in a form that crosses from a worker thread to the event loop cheaply. A structured
// clone of a 500-VM batch's rows costs the receiving thread 2.6 ms to deserialise, of its payload
// 9.2 ms, both more than JSON.parse of the whole batch (5.9 ms); one Float64Array of the numbers,
// a null mask and an array of the strings clone in 0.3 ms and unpack in 0.6 ms.
import { BATCH_COLS, type BatchRows } from '../store/batch-rows.js';
import type { Col } from '../store/schema.js';
import type { Value } from '../store/sql.js';

export interface PackedRows {
  rows: number;
  /** The numeric columns, row-major. */
  nums: Float64Array;
  /** The text columns, row-major ('' where null). */
  texts: string[];
  /** 1 where the value is null, row-major over every column. */
  nulls: Uint8Array;
}

export function packRows(rows: readonly Value[][], cols: readonly Col[]): PackedRows {
  const textCols = cols.filter((c) => c.kind === 'text').length;
  const numCols = cols.length - textCols;
  const nums = new Float64Array(rows.length * numCols);
  const nulls = new Uint8Array(rows.length * cols.length);
  const texts: string[] = [];
  let n = 0;
  let z = 0;
  for (const r of rows) {
    if (r.length !== cols.length) throw new Error(`a row of ${r.length} values for ${cols.length} columns`);
    for (let c = 0; c < cols.length; c++, z++) {
      const v = r[c]!;
      const text = cols[c]!.kind === 'text';
      if (v === null) {
        nulls[z] = 1;
        if (text) texts.push('');
        else n++;
      } else if (text) {
        if (typeof v !== 'string') throw new Error(`column ${cols[c]!.name}: ${typeof v} in a text column`);
        texts.push(v);
      } else {
        if (typeof v !== 'number') throw new Error(`column ${cols[c]!.name}: ${typeof v} in a numeric column`);
        nums[n++] = v;
      }
    }
  }
  return { rows: rows.length, nums, texts, nulls };
}

export function unpackRows(p: PackedRows, cols: readonly Col[]): Value[][] {
  const text = cols.map((c) => c.kind === 'text');
  const out: Value[][] = new Array(p.rows);
  let n = 0;
  let t = 0;
  let z = 0;
  for (let r = 0; r < p.rows; r++) {
    const row: Value[] = new Array(cols.length);
    for (let c = 0; c < cols.length; c++, z++) {
      if (text[c]) {
        const s = p.texts[t++]!;
        row[c] = p.nulls[z] ? null : s;
      } else {
        const v = p.nums[n++]!;
        row[c] = p.nulls[z] ? null : v;
      }
    }
    out[r] = row;
  }
  return out;
}

type BulkTable = keyof typeof BATCH_COLS;
const BULK_TABLES = Object.keys(BATCH_COLS) as BulkTable[];

/** BatchRows with its bulk tables packed (the agent row and the pending marks are a few values). */
export type PackedBatch = Omit<BatchRows, BulkTable | 'minutes'> & Record<BulkTable, PackedRows> & { minutes: Float64Array };

export function packBatch(b: BatchRows): PackedBatch {
  const out = { ...b, minutes: Float64Array.from(b.minutes) } as unknown as PackedBatch;
  for (const t of BULK_TABLES) out[t] = packRows(b[t], BATCH_COLS[t]);
  return out;
}

export function unpackBatch(p: PackedBatch): BatchRows {
  const out = { ...p, minutes: Array.from(p.minutes) } as unknown as BatchRows;
  for (const t of BULK_TABLES) out[t] = unpackRows(p[t], BATCH_COLS[t]);
  return out;
}
