// What an instance reference in a URL means: an instance id, else a name, else a unique id prefix.
import type { InstanceRow, Store } from './store/store.js';

export type Resolution = { ok: true; row: InstanceRow } | { ok: false; kind: 'not_found' | 'ambiguous'; message: string };

function one(rows: InstanceRow[], what: string): Resolution | null {
  if (rows.length === 1) return { ok: true, row: rows[0]! };
  if (rows.length > 1) {
    const list = rows.map((r) => `${r.instanceId}@${r.agentId}`).join(', ');
    return { ok: false, kind: 'ambiguous', message: `${what} matches ${rows.length} instances (${list}); use a unique instance id` };
  }
  return null;
}

export async function resolveInstance(store: Store, ref: string, allowPrefix: boolean): Promise<Resolution> {
  const byId = one(await store.findInstances({ id: ref }), `instance id ${JSON.stringify(ref)}`);
  if (byId) return byId;
  const byName = one(await store.findInstances({ name: ref }), `instance name ${JSON.stringify(ref)}`);
  if (byName) return byName;
  if (allowPrefix && ref.length > 0) {
    const byPrefix = one(await store.findInstances({ idPrefix: ref }), `instance id prefix ${JSON.stringify(ref)}`);
    if (byPrefix) return byPrefix;
  }
  return { ok: false, kind: 'not_found', message: `no instance with id${allowPrefix ? ', name or id prefix' : ' or name'} ${JSON.stringify(ref)}` };
}
