/** metav1.Condition bookkeeping: lastTransitionTime moves only when the status changes. */
import type { Condition as StoredCondition } from '../api/index.js';

/** A condition as a reconciler states it; lastTransitionTime is filled in here. */
export type Condition = Omit<StoredCondition, 'lastTransitionTime'> & { lastTransitionTime?: string };

export function setCondition(conditions: Condition[] | undefined, next: Condition, now = new Date()): StoredCondition[] {
  const list = (conditions ?? []).map((condition) => ({ ...condition, lastTransitionTime: condition.lastTransitionTime ?? now.toISOString() }));
  const index = list.findIndex((condition) => condition.type === next.type);
  const previous = index >= 0 ? list[index] : undefined;
  const lastTransitionTime = previous && previous.status === next.status ? previous.lastTransitionTime : now.toISOString();
  const merged: StoredCondition = { ...next, lastTransitionTime: lastTransitionTime ?? now.toISOString() };
  if (index >= 0) list[index] = merged;
  else list.push(merged);
  return list;
}
