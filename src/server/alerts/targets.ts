// Which instances an alarm targets, as SQL over `instances l LEFT JOIN agents a`: the same rules
// as selector.ts (the tests hold the two to each other), applied by the database.
import type { SqlDb, Value } from '../store/sql.js';
import type { AlarmDefinition, Selector } from './types.js';

type Engine = SqlDb['dialect']['kind'];

export class Params {
  readonly list: Value[] = [];
  constructor(private readonly engine: Engine) {}
  /**
   * A placeholder for v. PostgreSQL casts it (untyped parameters in expressions fail); SQLite casts
   * integers, which better-sqlite3 binds as REAL otherwise (and `minute / ?` would not truncate).
   */
  add(v: Value, type: 'text' | 'bigint' | 'float8' = 'text'): string {
    this.list.push(v);
    if (this.engine === 'postgres') return `?::${type}`;
    return type === 'bigint' ? 'CAST(? AS BIGINT)' : '?';
  }
}

/** `*` any run, `?` one character, everything else literal (selector.ts), as SQLite GLOB. */
export function globToSqliteGlob(glob: string): string {
  // GLOB's only other special character is `[` (a class); `[[]` is a literal `[`.
  return glob.replace(/\[/g, '[[]');
}

/** The same glob as a PostgreSQL LIKE pattern with `\` as the escape character. */
export function globToLike(glob: string): string {
  return glob.replace(/[\\%_]/g, '\\$&').replace(/\*/g, '%').replace(/\?/g, '_');
}

function selectorSql(s: Selector, p: Params, engine: Engine): string {
  const parts: string[] = [];
  if (s.host !== undefined) {
    const h = p.add(s.host);
    const h2 = p.add(s.host);
    parts.push(`(l.agent_id = ${h} OR COALESCE(a.hostname, '') = ${h2})`);
  }
  if (s.hypervisor !== undefined) parts.push(`l.hypervisor = ${p.add(s.hypervisor)}`);
  if (s.instanceName !== undefined) {
    parts.push(engine === 'sqlite' ? `l.name GLOB ${p.add(globToSqliteGlob(s.instanceName))}` : `l.name LIKE ${p.add(globToLike(s.instanceName))} ESCAPE '\\'`);
  }
  return parts.length ? parts.join(' AND ') : 'TRUE';
}

/** The alarm's target condition over `instances l LEFT JOIN agents a` (selectTargets in selector.ts). */
export function targetSql(def: AlarmDefinition, p: Params, engine: Engine): string {
  if (def.monitoredResourceName !== null) {
    // By id first; only when no instance has that id, by name (all instances of that name).
    const r = def.monitoredResourceName;
    return `(l.instance_id = ${p.add(r)} OR (l.name = ${p.add(r)} AND NOT EXISTS (SELECT 1 FROM instances x WHERE x.instance_id = ${p.add(r)})))`;
  }
  if (!def.selector) return 'FALSE';
  return selectorSql(def.selector, p, engine);
}

/** Alarms with the same key target the same instances. */
export function targetKey(def: AlarmDefinition): string {
  if (def.monitoredResourceName !== null) return JSON.stringify(['r', def.monitoredResourceName]);
  const s = def.selector;
  return JSON.stringify(['s', s?.host ?? null, s?.hypervisor ?? null, s?.instanceName ?? null, s ? 1 : 0]);
}

/** One row per instance id: the latest-seen (greatest last_seen; on a tie the first in (name, agent_id) order). */
export const LATEST = `latest AS (
  SELECT i.instance_id, i.agent_id, i.name, i.hypervisor, i.last_seen, i.first_minute
  FROM instances i
  WHERE NOT EXISTS (
    SELECT 1 FROM instances j
    WHERE j.instance_id = i.instance_id AND j.agent_id <> i.agent_id
      AND (j.last_seen > i.last_seen OR (j.last_seen = i.last_seen AND (j.name < i.name OR (j.name = i.name AND j.agent_id < i.agent_id))))
  )
)`;
