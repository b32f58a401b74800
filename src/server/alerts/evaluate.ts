// The M-of-N alarm decision, pure: the last N period datapoints (value or missing) and the current
// state in, the next state and a reason out. No clock, no I/O, so the whole table is testable.
//
// Rules implemented (N = evaluationPeriods, M = datapointsToAlarm, a point "breaches" when
// `value <op> threshold` holds; B = breaching present points, G = good present points,
// P = B + G present points, X = N - P missing points):
//
//   breaching     missing points count as breaching:  B + X >= M → ALARM, else OK.
//   notBreaching  missing points count as good:       B >= M → ALARM, else OK.
//   ignore        P = 0 → keep the current state.
//                 B >= M → ALARM.
//                 G > N - M (ALARM impossible whatever the missing points were) → OK.
//                 otherwise (not enough data to decide) → keep the current state.
//   missing       P = 0 → INSUFFICIENT_DATA.
//                 B >= M → ALARM.
//                 B = 0 → OK (at least one present point, none breaching).
//                 P >= M, or G > N - M → OK (enough present points were judged).
//                 otherwise (fewer than M present, some breaching, and the missing ones could
//                 still complete M) → keep the current state: CloudWatch avoids premature ALARM
//                 on intermittent data, and we do not call OK a window whose only data breaches.
//
// CloudWatch's table for a 3-of-3 alarm (X breaching, 0 good, - missing), newest point last,
// reduced to the N = 3 points this function is given, and what the rules above return:
//
//   points   | MISSING           | IGNORE         | BREACHING | NOT BREACHING
//   ---------+-------------------+----------------+-----------+--------------
//   0 0 0    | OK                | OK             | OK        | OK
//   - - 0    | OK                | OK             | OK        | OK
//   - - -    | INSUFFICIENT_DATA | current state  | ALARM     | OK
//   X X X    | ALARM             | ALARM          | ALARM     | ALARM
//   X - X    | current state     | current state  | ALARM     | OK
//   - - X    | current state     | current state  | ALARM     | OK
//
// CloudWatch itself fetches a wider "evaluation range" than N when data is missing; this
// implementation judges exactly the N most recent periods, which is what the caller hands in.
import type { AlarmState, ComparisonOperator, Datapoint, TreatMissingData } from './types.js';

export interface EvaluationRule {
  comparisonOperator: ComparisonOperator;
  threshold: number;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  treatMissingData: TreatMissingData;
}

export interface Decision {
  state: AlarmState;
  reason: string;
  breaching: number;
  present: number;
}

const OP_TEXT: Record<ComparisonOperator, string> = {
  GreaterThanOrEqualToThreshold: 'greater than or equal to',
  GreaterThanThreshold: 'greater than',
  LessThanThreshold: 'less than',
  LessThanOrEqualToThreshold: 'less than or equal to',
};

export function breaches(op: ComparisonOperator, value: number, threshold: number): boolean {
  switch (op) {
    case 'GreaterThanOrEqualToThreshold':
      return value >= threshold;
    case 'GreaterThanThreshold':
      return value > threshold;
    case 'LessThanThreshold':
      return value < threshold;
    case 'LessThanOrEqualToThreshold':
      return value <= threshold;
  }
}

function fmt(v: number): string {
  return Number.isInteger(v) ? `${v}.0` : String(Number(v.toPrecision(6)));
}

/**
 * Which rule of the table above applies, from the counts alone (the one place the table is
 * written): ALARM by `count` points, OK, the current state kept (no data, or undecided), or
 * INSUFFICIENT_DATA.
 */
type Branch = 'crossed' | 'fine' | 'keepEmpty' | 'keepUndecided' | 'insufficient';

function branchOf(rule: EvaluationRule, b: number, g: number): Branch {
  const n = rule.evaluationPeriods;
  const m = rule.datapointsToAlarm;
  const p = b + g;
  const x = n - p;
  switch (rule.treatMissingData) {
    case 'breaching':
      return b + x >= m ? 'crossed' : 'fine';
    case 'notBreaching':
      return b >= m ? 'crossed' : 'fine';
    case 'ignore':
      if (p === 0) return 'keepEmpty';
      if (b >= m) return 'crossed';
      if (g > n - m) return 'fine';
      return 'keepUndecided';
    case 'missing':
      if (p === 0) return 'insufficient';
      if (b >= m) return 'crossed';
      if (b === 0 || p >= m || g > n - m) return 'fine';
      return 'keepUndecided';
  }
}

function stateOf(br: Branch, current: AlarmState): AlarmState {
  return br === 'crossed' ? 'ALARM' : br === 'fine' ? 'OK' : br === 'insufficient' ? 'INSUFFICIENT_DATA' : current;
}

/**
 * The state evaluate() decides, without its reason text: the evaluator's hot loop. `values` holds
 * the N periods at [offset, offset + N), oldest first, NaN (or any non-finite value) = missing.
 */
export function decideState(rule: EvaluationRule, values: ArrayLike<number>, offset: number, current: AlarmState): AlarmState {
  let b = 0;
  let g = 0;
  const end = offset + rule.evaluationPeriods;
  for (let i = offset; i < end; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    if (breaches(rule.comparisonOperator, v, rule.threshold)) b++;
    else g++;
  }
  return stateOf(branchOf(rule, b, g), current);
}

/**
 * `points` are the N most recent periods, oldest first (missing as value null); fewer than N
 * entries means the missing ones are the oldest.
 */
export function evaluate(rule: EvaluationRule, points: readonly (Datapoint | number | null)[], current: AlarmState): Decision {
  const n = rule.evaluationPeriods;
  const skip = points.length - n;
  return decide(rule, current, (k) => {
    const p = k + skip >= 0 ? points[k + skip]! : null;
    return p === null || typeof p === 'number' ? p : p.value;
  });
}

/**
 * evaluate() on the evaluator's column of values: the N periods at [offset, offset + N) of
 * `values`, oldest first, a non-finite value = missing (no array per instance).
 */
export function evaluateAt(rule: EvaluationRule, values: ArrayLike<number>, offset: number, current: AlarmState): Decision {
  return decide(rule, current, (k) => {
    const v = values[offset + k]!;
    return Number.isFinite(v) ? v : null;
  });
}

function fineReason(rule: EvaluationRule, b: number, g: number, shown: string): string {
  const n = rule.evaluationPeriods;
  const x = n - b - g;
  const t = rule.treatMissingData;
  const how = !x ? '' : t === 'breaching' ? ` (${x} missing, treated as breaching)` : t === 'notBreaching' ? ` (${x} missing, treated as not breaching)` : t === 'missing' ? ` (${x} missing)` : '';
  return `Threshold Crossed: ${b} out of the last ${n} datapoints ${shown}were ${OP_TEXT[rule.comparisonOperator]} the threshold (${fmt(rule.threshold)})${how}; ${rule.datapointsToAlarm} needed for ALARM.`;
}

const startReasons = new WeakMap<EvaluationRule, string[]>();

/**
 * The reason of an instance that starts OK (decideState said OK from INSUFFICIENT_DATA): the
 * decision's counts without its values, one string per (breaching, present) pair of the rule. A
 * cold pass starts a whole fleet OK; one formatted string per instance and alarm cost more than
 * judging it, and the values are in the instance's metrics. Transitions keep their values.
 */
export function startOkReason(rule: EvaluationRule, values: ArrayLike<number>, offset: number): string {
  const n = rule.evaluationPeriods;
  let b = 0;
  let g = 0;
  for (let i = offset; i < offset + n; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    if (breaches(rule.comparisonOperator, v, rule.threshold)) b++;
    else g++;
  }
  let cache = startReasons.get(rule);
  if (!cache) startReasons.set(rule, (cache = []));
  const k = b * (n + 1) + g;
  return (cache[k] ??= fineReason(rule, b, g, ''));
}

/** The decision and its reason; `at(k)` is period k of the N (0 = oldest), null = missing. */
function decide(rule: EvaluationRule, current: AlarmState, at: (k: number) => number | null): Decision {
  const n = rule.evaluationPeriods;
  const m = rule.datapointsToAlarm;
  // One pass, newest first as the reason shows them, no intermediate arrays: a cold pass decides
  // this for every instance of the fleet.
  let b = 0;
  let g = 0;
  let shown = '[';
  for (let k = n - 1; k >= 0; k--) {
    const v = at(k);
    if (v !== null && Number.isFinite(v)) {
      if (breaches(rule.comparisonOperator, v, rule.threshold)) b++;
      else g++;
    }
    shown += `${k === n - 1 ? '' : ', '}${v === null ? 'missing' : fmt(v)}`;
  }
  shown += ']';
  const p = b + g;
  const x = n - p;
  const cmp = `${OP_TEXT[rule.comparisonOperator]} the threshold (${fmt(rule.threshold)})`;
  const base = { breaching: b, present: p };
  const br = branchOf(rule, b, g);
  const state = stateOf(br, current);
  const t = rule.treatMissingData;
  switch (br) {
    case 'crossed': {
      const count = t === 'breaching' ? b + x : b;
      const how = t === 'breaching' && x ? ` (${x} missing, treated as breaching)` : '';
      return { ...base, state, reason: `Threshold Crossed: ${count} out of the last ${n} datapoints ${shown} were ${cmp}${how} (minimum ${m} datapoints for ALARM).` };
    }
    case 'fine':
      return { ...base, state, reason: fineReason(rule, b, g, `${shown} `) };
    case 'keepEmpty':
      return { ...base, state, reason: `No datapoints in the last ${n} periods; missing data is ignored, state kept.` };
    case 'insufficient':
      return { ...base, state, reason: `Insufficient Data: all ${n} datapoints ${shown} were missing.` };
    case 'keepUndecided':
      return t === 'ignore'
        ? { ...base, state, reason: `Not enough datapoints to decide: ${b} breaching, ${g} not, ${x} missing ${shown}; missing data is ignored, state kept.` }
        : { ...base, state, reason: `Not enough datapoints to decide: ${b} breaching out of ${p} present ${shown}, ${m} needed for ALARM; state kept.` };
  }
}
