// The one glob of instance names, wherever a name pattern is taken (`GET /v1/instances?name=`,
// an alarm's `selector.instanceName`): `*` any run of characters, `?` exactly one character (a
// Unicode code point, as SQLite GLOB and PostgreSQL LIKE count them: the alarm query applies the
// same glob in SQL, alerts/bulk-source.ts); everything else literal; whole-name match.

const cache = new Map<string, RegExp>();

export function globToRegExp(glob: string): RegExp {
  let re = cache.get(glob);
  if (!re) {
    const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    re = new RegExp(`^${body}$`, 'su');
    // Patterns come from requests: bound what is remembered.
    if (cache.size > 1000) cache.clear();
    cache.set(glob, re);
  }
  return re;
}
