// Console sessions: a credential's secret, POSTed once, is exchanged for a random session id held
// in an HttpOnly, SameSite=Strict cookie (Secure over TLS) that expires. The database keeps only
// the id's SHA-256, its credential and its expiry, so every server sharing the database honours
// it and a logout anywhere revokes it everywhere. The credential is re-checked on every request:
// revoking it ends its sessions too.
//
// CSRF: a request that changes state and is authenticated by the cookie must carry the session's
// CSRF token in `x-csrf-token` (HMAC of the session id, so nothing more is stored) and, when the
// browser sends an Origin, come from a page of the host it is sent to.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Credentials } from '../credentials.js';
import { sha256Hex } from '../credentials.js';
import { AuthError } from '../errors.js';
import type { Store, TokenRow } from '../store/store.js';

export const SESSION_COOKIE = 'vmpulse_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The value of one cookie from a Cookie header, or null. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export interface SessionCookieOptions {
  secure: boolean;
}

export function sessionCookie(value: string, maxAgeS: number, o: SessionCookieOptions): string {
  const parts = [`${SESSION_COOKIE}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAgeS}`, `Expires=${new Date(Date.now() + maxAgeS * 1000).toUTCString()}`];
  if (o.secure) parts.push('Secure');
  return parts.join('; ');
}

export function clearedCookie(o: SessionCookieOptions): string {
  return sessionCookie('', 0, o).replace(/Expires=[^;]+/, 'Expires=Thu, 01 Jan 1970 00:00:00 GMT');
}

export function csrfTokenFor(sessionId: string): string {
  return createHmac('sha256', sessionId).update('vmpulse console csrf').digest('base64url');
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * A cross-site request: an Origin header whose host is not the Host the request was sent to. The
 * scheme is left out on purpose: behind a TLS-terminating proxy the server sees http while the
 * browser's Origin says https.
 */
export function foreignOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (typeof origin !== 'string') return false;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return true; // "null" (a sandboxed frame, a redirect chain) or garbage
  }
  return host === '' || host !== req.headers.host;
}

export interface NewSession {
  id: string;
  csrf: string;
  token: TokenRow;
  expiresAt: number;
}

export class Sessions {
  constructor(
    private readonly store: Store,
    private readonly credentials: Credentials,
    readonly ttlS: number,
  ) {}

  /** A new session for a reader or admin secret; null when the secret opens nothing. */
  async signIn(secret: string): Promise<NewSession | null> {
    const token = await this.credentials.verifyBearer(secret);
    if (!token) return null;
    if (token.role === 'agent') throw new AuthError('forbidden', 'an agent credential may not sign in to the console (use a reader or admin credential)');
    const id = randomBytes(32).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const expiresAt = now + this.ttlS;
    await this.store.insertSession({ idSha256: sha256Hex(id), accessKeyId: token.accessKeyId, createdAt: now, expiresAt, revokedAt: null }, now);
    return { id, csrf: csrfTokenFor(id), token, expiresAt };
  }

  async signOut(id: string): Promise<boolean> {
    return this.store.revokeSession(sha256Hex(id), Math.floor(Date.now() / 1000));
  }

  /** The live session a cookie names with its credential, or null (unknown, expired, revoked). */
  async lookup(id: string): Promise<{ token: TokenRow; expiresAt: number } | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const s = await this.store.sessionByIdHash(sha256Hex(id));
    if (!s || s.revokedAt !== null || s.expiresAt <= Date.now() / 1000) return null;
    const token = await this.store.tokenByAccessKey(s.accessKeyId);
    if (!token || token.revokedAt !== null) return null;
    return { token, expiresAt: s.expiresAt };
  }

  /**
   * The credential a request's session cookie stands for, checking CSRF on state-changing methods.
   * Null when the request carries no session cookie at all.
   */
  async principalOf(req: FastifyRequest): Promise<TokenRow | null> {
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (id === null || id === '') return null;
    const live = await this.lookup(id);
    if (!live) throw new AuthError('unauthenticated', 'the console session has expired or was signed out; sign in again');
    if (!SAFE_METHODS.has(req.method)) {
      if (foreignOrigin(req)) throw new AuthError('forbidden', 'cross-origin request refused');
      const sent = req.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !sameString(sent, csrfTokenFor(id))) throw new AuthError('forbidden', `missing or wrong ${CSRF_HEADER} header`);
    }
    return live.token;
  }
}
