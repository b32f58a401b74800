// Which engine VMPULSE_DB names. One check for the whole code base, so that the server, the token
// CLI, alerting and `vmpulse start` never disagree about what is a PostgreSQL URL and what is a
// SQLite file path (the scheme is case-insensitive, as URL schemes are).
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db.trim());
}
