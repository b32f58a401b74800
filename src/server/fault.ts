// Which thrown errors mean "the storage cannot serve right now" rather than "this request is
// wrong" or "the code is wrong". The store engines throw what their drivers throw (pg's
// DatabaseError with a SQLSTATE, a socket's errno, better-sqlite3's SqliteError with an
// extended result code); this module reads those and nothing else, so it works whichever store
// implementation is behind the interface. A transient fault is answered 503 with Retry-After:
// the agent keeps the batch in its spool and sends it again; nothing is stored in part because
// every ingest is one transaction.

export type FaultKind =
  /** The database server is down, restarting, refusing or dropped the connection. */
  | 'database_unavailable'
  /** The disk (or the database's quota) is full. */
  | 'storage_full'
  /** A lock could not be taken in time, or a serialisation conflict: retrying succeeds. */
  | 'storage_busy'
  /** An I/O error from the filesystem under SQLite. */
  | 'storage_io';

export interface Fault {
  kind: FaultKind;
  /** Seconds a client should wait before trying again. */
  retryAfterS: number;
  /** Said to the client; names the condition, never a connection string or a path. */
  message: string;
}

// Socket and resolver errors of a connection to PostgreSQL.
const NET_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);
// Local filesystem errors (SQLite, the key file, anything the server writes).
const FULL_ERRNO = new Set(['ENOSPC', 'EDQUOT']);

/** SQLSTATE classes and codes: 08 connection exception, 57P0x operator intervention, 53 insufficient resources, 40 transaction rollback, 55P03 lock not available. */
function pgFault(code: string): Fault | null {
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '57P05') {
    return { kind: 'database_unavailable', retryAfterS: 5, message: 'the database is unavailable (restarting or unreachable); try again shortly' };
  }
  if (code === '53100') return { kind: 'storage_full', retryAfterS: 30, message: 'the database is out of disk space; try again later' };
  if (code.startsWith('53')) return { kind: 'database_unavailable', retryAfterS: 5, message: 'the database is out of resources (connections or memory); try again shortly' };
  if (code.startsWith('40') || code === '55P03' || code === '57014') return { kind: 'storage_busy', retryAfterS: 1, message: 'the database is busy; try again' };
  return null;
}

function sqliteFault(code: string): Fault | null {
  if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_FULL_')) return { kind: 'storage_full', retryAfterS: 30, message: 'the storage volume is full; try again later' };
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED' || code.startsWith('SQLITE_LOCKED_')) {
    return { kind: 'storage_busy', retryAfterS: 1, message: 'the database is busy; try again' };
  }
  if (code === 'SQLITE_IOERR' || code.startsWith('SQLITE_IOERR_') || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY_DBMOVED') {
    return { kind: 'storage_io', retryAfterS: 30, message: 'the storage volume failed an I/O operation; try again later' };
  }
  return null;
}

/** The fault a thrown value stands for, or null when it is not a storage condition. */
export function classifyFault(err: unknown): Fault | null {
  if (!err || typeof err !== 'object') return null;
  const e = err as { code?: unknown; errno?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (/^[0-9A-Z]{5}$/.test(code)) {
    const f = pgFault(code);
    if (f) return f;
  }
  if (code.startsWith('SQLITE_')) return sqliteFault(code);
  if (NET_ERRNO.has(code)) return pgFault('08006');
  if (FULL_ERRNO.has(code)) return sqliteFault('SQLITE_FULL');
  if (code === 'EIO') return sqliteFault('SQLITE_IOERR');
  const msg = typeof e.message === 'string' ? e.message : '';
  // pg reports a connection lost mid-query or a pool shut by the server without a code.
  if (/Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(msg)) return pgFault('08006');
  // An AggregateError (several addresses tried) or a wrapped cause.
  if (Array.isArray(e.errors)) for (const x of e.errors) if (classifyFault(x)) return classifyFault(x);
  if (e.cause && e.cause !== err) return classifyFault(e.cause);
  return null;
}

interface ReplyLike {
  code(n: number): ReplyLike;
  header(k: string, v: string): ReplyLike;
  type(t: string): ReplyLike;
  send(body: unknown): unknown;
}

/**
 * Answers a fault 503 + Retry-After, in the REST shape (`{code, message, retry_after_s}`) or the
 * Lightsail shape (`{__type: "ServiceUnavailableException", message}`, which the AWS SDKs retry).
 */
export function replyFault(reply: ReplyLike, f: Fault, shape: 'rest' | 'lightsail'): unknown {
  reply.code(503).header('retry-after', String(f.retryAfterS));
  if (shape === 'lightsail') {
    return reply.header('x-amzn-ErrorType', 'ServiceUnavailableException').type('application/json').send({ __type: 'ServiceUnavailableException', code: 'ServiceUnavailableException', message: f.message });
  }
  return reply.type('application/json; charset=utf-8').send({ code: f.kind, message: f.message, retry_after_s: f.retryAfterS });
}
