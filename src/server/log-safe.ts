// What of a notification URL may be logged. Webhook URLs often carry their secret in the path or
// the query (Slack, Teams, Discord, most "incoming webhook" services) and sometimes in userinfo,
// so a log line names only the scheme and host: enough to tell receivers apart, nothing to replay.
export function urlForLog(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '(unparsable URL)';
  }
}
