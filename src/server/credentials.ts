// Credentials. SigV4 verification needs the secret itself, yet the database must not hold it, so
// secrets are derived: secret = base64url(HMAC-SHA256(masterKey, access_key_id)). The database keeps
// only sha256(secret) (for Bearer lookups); the master key lives in a 0600 file. Losing that file
// invalidates every credential; copying the database alone yields none.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Role, Store, TokenRow } from './store/store.js';
import { TokenCache } from './token-cache.js';

export const MASTER_KEY_BYTES = 32;

/** Reads the master key, creating it (exclusively, mode 0600) on first use. */
export function loadOrCreateMasterKey(file: string): Buffer {
  try {
    return checkKey(readFileSync(file), file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  mkdirSync(dirname(file), { recursive: true });
  const key = randomBytes(MASTER_KEY_BYTES);
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (e) {
    // Another process created it between our read and open: use theirs.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return checkKey(readFileSync(file), file);
    throw e;
  }
  try {
    writeSync(fd, key);
  } finally {
    closeSync(fd);
  }
  return key;
}

function checkKey(buf: Buffer, file: string): Buffer {
  if (buf.length !== MASTER_KEY_BYTES) throw new Error(`${file}: a master key must be ${MASTER_KEY_BYTES} bytes, found ${buf.length}`);
  return buf;
}

export function deriveSecret(masterKey: Buffer, accessKeyId: string): string {
  return createHmac('sha256', masterKey).update(accessKeyId).digest('base64url');
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

const AKID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** 20 characters like an AWS access key id, so tools that check the shape accept it. */
export function newAccessKeyId(): string {
  const bytes = randomBytes(16);
  let s = 'VMPK';
  for (const b of bytes) s += AKID_ALPHABET[b & 31];
  return s;
}

export interface CreatedCredential {
  access_key_id: string;
  secret: string;
  role: Role;
  name: string;
  agent_id: string | null;
}

export class Credentials {
  /** Off until a server listens for token changes (token-cache.ts); the CLI never does. */
  cache = new TokenCache(0);

  constructor(
    readonly store: Store,
    private readonly masterKey: Buffer,
  ) {
    // This process's own writes (a revocation from the console, a binding) are refused or seen by
    // the next request here, without waiting for the database's notification.
    store.onTokensWritten(() => this.cache.invalidate());
  }

  async create(role: Role, name: string, agentId: string | null = null): Promise<CreatedCredential> {
    const accessKeyId = newAccessKeyId();
    const secret = deriveSecret(this.masterKey, accessKeyId);
    await this.store.insertToken({
      accessKeyId,
      name,
      role,
      secretSha256: sha256Hex(secret),
      agentId,
      createdAt: Math.floor(Date.now() / 1000),
      revokedAt: null,
    });
    return { access_key_id: accessKeyId, secret, role, name, agent_id: agentId };
  }

  /** The live credential a Bearer secret belongs to, or null. */
  async verifyBearer(secret: string): Promise<TokenRow | null> {
    if (!secret || secret.length > 512) return null;
    const hash = sha256Hex(secret);
    const presented = Buffer.from(hash, 'hex');
    const row = await this.cache.get(`s:${hash}`, () => this.store.tokenBySecretHash(hash));
    if (!row || row.revokedAt !== null) return null;
    const stored = Buffer.from(row.secretSha256, 'hex');
    return stored.length === presented.length && timingSafeEqual(stored, presented) ? row : null;
  }

  /** The live credential and its derived secret for SigV4, or null. */
  async forAccessKey(accessKeyId: string): Promise<{ token: TokenRow; secret: string } | null> {
    if (!/^[A-Za-z0-9]{1,128}$/.test(accessKeyId)) return null;
    const token = await this.cache.get(`a:${accessKeyId}`, () => this.store.tokenByAccessKey(accessKeyId));
    if (!token || token.revokedAt !== null) return null;
    const secret = deriveSecret(this.masterKey, accessKeyId);
    // A key file replaced since the credential was made would derive a different secret.
    const a = Buffer.from(sha256Hex(secret), 'hex');
    const b = Buffer.from(token.secretSha256, 'hex');
    if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
    return { token, secret };
  }
}
