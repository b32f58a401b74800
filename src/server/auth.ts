// Bearer authentication as a Fastify decorator: `onRequest: app.requireRole('reader')` on a route.
// It runs before the body is read, so an unauthenticated client cannot make the server read 8 MiB.
// Admin credentials pass every role check.
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

export async function authenticate(credentials: Credentials, req: FastifyRequest, need: Role): Promise<TokenRow> {
  const secret = bearerOf(req);
  if (!secret) throw new AuthError('unauthenticated', 'missing credentials: send Authorization: Bearer <secret>');
  const token = await credentials.verifyBearer(secret);
  if (!token) throw new AuthError('unauthenticated', 'invalid or revoked credentials');
  if (!roleAllows(token.role, need)) throw new AuthError('forbidden', `a ${token.role} credential may not do this (needs ${need})`);
  return token;
}

/** Installs the decorators on the root instance (not encapsulated, so every route plugin sees them). */
export function installAuth(app: FastifyInstance, store: Store, credentials: Credentials): void {
  app.decorate('store', store);
  app.decorate('credentials', credentials);
  app.decorateRequest('principal', null);
  app.decorate('requireRole', (role: Role): onRequestAsyncHookHandler => {
    return async (req) => {
      req.principal = await authenticate(credentials, req, role);
    };
  });
}
