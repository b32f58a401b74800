// Bearer authentication as a Fastify decorator: `onRequest: app.requireRole('reader')` on a route.
// It runs before the body is read, so an unauthenticated client cannot make the server read 8 MiB.
// Admin credentials pass every role check. Without an Authorization header, a console session
// cookie (src/server/console/sessions.ts) stands for the credential that signed in, CSRF-checked.
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { Credentials } from './credentials.js';
import { AuthError } from './errors.js';
import type { Role, Store, TokenRow } from './store/store.js';

declare module 'fastify' {
  interface FastifyInstance {
    store: Store;
    credentials: Credentials;
    requireRole(role: Exclude<Role, 'admin'> | 'admin'): onRequestAsyncHookHandler;
  }
  interface FastifyRequest {
    principal: TokenRow | null;
  }
}

export function bearerOf(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(h);
  return m ? m[1]! : null;
}

export function roleAllows(have: Role, need: Role): boolean {
  return have === 'admin' || have === need;
}

/** What a console session cookie resolves to (null: no cookie sent); see console/sessions.ts. */
export interface SessionAuth {
  principalOf(req: FastifyRequest): Promise<TokenRow | null>;
}

export async function authenticate(credentials: Credentials, req: FastifyRequest, need: Role, sessions?: SessionAuth): Promise<TokenRow> {
  const secret = bearerOf(req);
  const fromSession = !secret && req.headers.authorization === undefined && sessions ? await sessions.principalOf(req) : null;
  if (!secret && !fromSession) throw new AuthError('unauthenticated', 'missing credentials: send Authorization: Bearer <secret>');
  const token = fromSession ?? (await credentials.verifyBearer(secret!));
  if (!token) throw new AuthError('unauthenticated', 'invalid or revoked credentials');
  if (!roleAllows(token.role, need)) throw new AuthError('forbidden', `a ${token.role} credential may not do this (needs ${need})`);
  return token;
}

/** Installs the decorators on the root instance (not encapsulated, so every route plugin sees them). */
export function installAuth(app: FastifyInstance, store: Store, credentials: Credentials, sessions?: SessionAuth): void {
  app.decorate('store', store);
  app.decorate('credentials', credentials);
  app.decorateRequest('principal', null);
  app.decorate('requireRole', (role: Role): onRequestAsyncHookHandler => {
    return async (req) => {
      req.principal = await authenticate(credentials, req, role, sessions);
    };
  });
}
