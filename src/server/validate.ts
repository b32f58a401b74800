// Turning an ingest body into a trusted Payload: gunzip within a size bound, parse, and check it
// against the wire contract (src/ship/payload.schema.json) plus what JSON Schema cannot say.
import { createRequire } from 'node:module';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Payload } from '../ship/payload.js';
import { repoRoot } from '../paths.js';
import { ApiError } from './errors.js';

const gunzipAsync = promisify(gunzip);
const require = createRequire(import.meta.url);

let compiled: ValidateFunction<Payload> | null = null;

/** Compiles the payload schema once per process (called at server start). */
export function payloadValidator(): ValidateFunction<Payload> {
  if (compiled) return compiled;
  // Ajv ships CommonJS; require() avoids default-export interop differences between its builds.
  const Ajv2020 = require('ajv/dist/2020').default as typeof import('ajv').default;
  const addFormats = require('ajv-formats').default as (a: unknown) => void;
  const schema = JSON.parse(readFileSync(join(repoRoot, 'src', 'ship', 'payload.schema.json'), 'utf8'));
  const ajv = new Ajv2020({ allErrors: false, strict: false });
  addFormats(ajv);
  compiled = ajv.compile<Payload>(schema);
  return compiled;
}

export async function decodeBody(raw: Buffer, encoding: string | undefined, maxBytes: number): Promise<Buffer> {
  const enc = (encoding ?? 'identity').trim().toLowerCase();
  if (enc === 'identity' || enc === '') return raw;
  if (enc !== 'gzip' && enc !== 'x-gzip') throw new ApiError(415, 'unsupported_encoding', `Content-Encoding ${JSON.stringify(enc)} is not supported (use gzip or none)`);
  try {
    // maxOutputLength stops inflating at the limit, so a gzip bomb costs at most maxBytes of work.
    return await gunzipAsync(raw, { maxOutputLength: maxBytes });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
      throw new ApiError(413, 'payload_too_large', `the decompressed body exceeds ${maxBytes} bytes`);
    }
    throw new ApiError(400, 'invalid_gzip', `the body is not valid gzip: ${(e as Error).message}`);
  }
}

function pointerEscape(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * The JSON pointer of the first number that is not finite or beyond ±2^53 (JSON.parse turns 1e400
 * into Infinity; larger integers lose precision and overflow PostgreSQL's bigint). Runs after the
 * schema check, so the depth is bounded by the schema.
 */
function hasUnsafeNumber(v: unknown): boolean {
  if (typeof v === 'number') return !(Number.isFinite(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER);
  if (Array.isArray(v)) {
    for (const x of v) if (hasUnsafeNumber(x)) return true;
    return false;
  }
  if (v && typeof v === 'object') {
    for (const k in v) if (hasUnsafeNumber((v as Record<string, unknown>)[k])) return true;
  }
  return false;
}

/** Slow path of hasUnsafeNumber: builds the pointer, only once a bad number is known to exist. */
function firstUnsafeNumber(v: unknown, path: string): string | null {
  if (typeof v === 'number') return Number.isFinite(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? null : path;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const r = firstUnsafeNumber(v[i], `${path}/${i}`);
      if (r !== null) return r;
    }
    return null;
  }
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const r = firstUnsafeNumber(x, `${path}/${pointerEscape(k)}`);
      if (r !== null) return r;
    }
  }
  return null;
}

function fieldOf(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  if (e.keyword === 'required' && typeof p.missingProperty === 'string') return `${e.instancePath}/${pointerEscape(p.missingProperty)}`;
  if (e.keyword === 'additionalProperties' && typeof p.additionalProperty === 'string') return `${e.instancePath}/${pointerEscape(p.additionalProperty)}`;
  return e.instancePath || '/';
}

function invalid(field: string, message: string): ApiError {
  return new ApiError(400, 'invalid_payload', message, { field });
}

export function parsePayload(body: Buffer): Payload {
  let data: unknown;
  try {
    data = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new ApiError(400, 'invalid_json', `the body is not JSON: ${(e as Error).message}`);
  }
  const validate = payloadValidator();
  if (!validate(data)) {
    const e = validate.errors![0]!;
    const field = fieldOf(e);
    const what = e.keyword === 'additionalProperties' ? 'is not a known field' : e.message ?? 'is invalid';
    throw invalid(field, `${field} ${what}`);
  }
  const bad = hasUnsafeNumber(data) ? firstUnsafeNumber(data, '') : null;
  if (bad !== null) throw invalid(bad || '/', `${bad || '/'}: numbers must be finite and within ±2^53`);
  const p = data as Payload;
  const seen = new Map<string, number>();
  p.Instances.forEach((inst, i) => {
    const prev = seen.get(inst.InstanceID);
    if (prev !== undefined) throw invalid(`/Instances/${i}/InstanceID`, `InstanceID ${JSON.stringify(inst.InstanceID)} appears twice (Instances/${prev} and Instances/${i})`);
    seen.set(inst.InstanceID, i);
  });
  return p;
}
