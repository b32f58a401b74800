// The console's table: signed-in browser sessions. It lives in the server's database (so servers
// sharing one PostgreSQL database share sessions) and is recorded in `schema_migrations` under
// versions 2001+, a range of its own beside the store's (1, 2, ...) and alerting's (1001+).
// The session id itself is never stored, only its SHA-256: a copy of the database opens no session.

export interface ConsoleMigration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

const sessions = (int: string): string => `
CREATE TABLE IF NOT EXISTS console_sessions (
  id_sha256 TEXT PRIMARY KEY,
  access_key_id TEXT NOT NULL,
  created_at ${int} NOT NULL,
  expires_at ${int} NOT NULL,
  revoked_at ${int}
);
CREATE INDEX IF NOT EXISTS console_sessions_expires ON console_sessions (expires_at);
`;

export const CONSOLE_MIGRATIONS: readonly ConsoleMigration[] = [
  { version: 2001, name: 'console: sessions', sqlite: sessions('INTEGER'), postgres: sessions('BIGINT') },
];
