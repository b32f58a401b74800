// AWS Signature Version 4 verification (header form), enough for the AWS SDK's JSON 1.1 clients:
// rebuild the canonical request from the raw path, query, signed headers and body, then compare
// the signature the client computed with the one derived from the credential's secret.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface SignedRequest {
  method: string;
  /** Path and query exactly as received (req.raw.url). */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface SigV4Authorization {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export const MAX_SKEW_SECONDS = 15 * 60;

export function parseAuthorization(h: string | undefined): SigV4Authorization | null {
  if (!h) return null;
  const m = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(h.trim());
  if (!m) return null;
  const parts: Record<string, string> = {};
  for (const p of m[1]!.split(',')) {
    const eq = p.indexOf('=');
    if (eq > 0) parts[p.slice(0, eq).trim()] = p.slice(eq + 1).trim();
  }
  const cred = parts.Credential?.split('/');
  if (!cred || cred.length !== 5 || cred[4] !== 'aws4_request' || !parts.SignedHeaders || !parts.Signature) return null;
  if (!/^[0-9a-f]{64}$/.test(parts.Signature)) return null;
  return {
    accessKeyId: cred[0]!,
    date: cred[1]!,
    region: cred[2]!,
    service: cred[3]!,
    signedHeaders: parts.SignedHeaders.split(';'),
    signature: parts.Signature,
  };
}

const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function canonicalUri(path: string): string {
  // Non-S3 services sign each path segment encoded once more on top of its wire encoding.
  return path.split('/').map((seg) => rfc3986(seg)).join('/') || '/';
}

function canonicalQuery(q: string): string {
  if (!q) return '';
  const pairs = q
    .split('&')
    .filter(Boolean)
    .map((kv) => {
      const eq = kv.indexOf('=');
      const k = eq < 0 ? kv : kv.slice(0, eq);
      const v = eq < 0 ? '' : kv.slice(eq + 1);
      return [rfc3986(safeDecode(k)), rfc3986(safeDecode(v))] as const;
    });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

function headerValue(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  const list = Array.isArray(v) ? v : [v];
  return list.map((x) => x.trim().replace(/\s+/g, ' ')).join(',');
}

/** Parses X-Amz-Date (YYYYMMDD'T'HHMMSS'Z') to unix seconds. */
export function parseAmzDate(s: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return null;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000;
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

/**
 * Returns null when the signature is valid for `secret`, otherwise why not. The caller has
 * already found the credential named by auth.accessKeyId.
 */
export function verifySigV4(req: SignedRequest, auth: SigV4Authorization, secret: string, expectedService: string, now = Date.now() / 1000): string | null {
  if (auth.service !== expectedService) return `the credential scope names service ${JSON.stringify(auth.service)}, expected ${expectedService}`;
  const amzDate = headerValue(req.headers['x-amz-date']);
  if (!amzDate) return 'X-Amz-Date is missing';
  const t = parseAmzDate(amzDate);
  if (t === null) return 'X-Amz-Date is malformed';
  if (Math.abs(now - t) > MAX_SKEW_SECONDS) return 'the request time is more than 15 minutes from the server time';
  if (amzDate.slice(0, 8) !== auth.date) return 'the credential scope date does not match X-Amz-Date';
  const signed = auth.signedHeaders;
  if (!signed.includes('host')) return 'the host header must be signed';
  if (!signed.includes('x-amz-date')) return 'the x-amz-date header must be signed';
  const canonHeaders: string[] = [];
  for (const name of signed) {
    if (name !== name.toLowerCase() || !name) return 'SignedHeaders must be lower case';
    const v = headerValue(req.headers[name]);
    if (v === null) return `signed header ${name} is missing`;
    canonHeaders.push(`${name}:${v}\n`);
  }
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const query = q < 0 ? '' : req.url.slice(q + 1);
  const canonical = [req.method.toUpperCase(), canonicalUri(path), canonicalQuery(query), canonHeaders.join(''), signed.join(';'), hex(req.body)].join('\n');
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, hex(canonical)].join('\n');
  const expected = createHmac('sha256', signingKey(secret, auth.date, auth.region, auth.service)).update(stringToSign).digest();
  const given = Buffer.from(auth.signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'the request signature does not match';
  return null;
}
