// Which instances an alarm watches, as a definition over an instance list. The evaluator applies the
// same rules in SQL (bulk-source.ts); the tests hold the two to each other. Matching runs on every
// pass, so a VM that appears later joins at the next evaluation without anyone touching the alarm.
import type { AlarmDefinition, Selector, TargetInstance } from './types.js';
import { globToRegExp } from '../glob.js';

export { globToRegExp };

export function matchesSelector(s: Selector, i: TargetInstance): boolean {
  if (s.host !== undefined && s.host !== i.agentId && s.host !== i.hostname) return false;
  if (s.hypervisor !== undefined && s.hypervisor !== i.hypervisor) return false;
  if (s.instanceName !== undefined && !globToRegExp(s.instanceName).test(i.name)) return false;
  return true;
}

/**
 * The instances an alarm covers. monitoredResourceName resolves by id first, then by name (as
 * GetInstanceMetricData does); a name shared by several VMs covers all of them, each with its own
 * state, rather than silently picking one.
 */
export function selectTargets(def: AlarmDefinition, instances: readonly TargetInstance[]): TargetInstance[] {
  if (def.monitoredResourceName !== null) {
    const r = def.monitoredResourceName;
    const byId = instances.filter((i) => i.instanceId === r);
    return byId.length ? byId : instances.filter((i) => i.name === r);
  }
  const s = def.selector;
  if (!s) return [];
  return instances.filter((i) => matchesSelector(s, i));
}
