/** metav1.Condition bookkeeping: lastTransitionTime moves only when the status changes. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export function setCondition(conditions: Condition[] | undefined, next: Condition, now = new Date()): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((condition) => condition.type === next.type);
  const previous = index >= 0 ? list[index] : undefined;
  const lastTransitionTime = previous && previous.status === next.status ? previous.lastTransitionTime : now.toISOString();
  const merged = { ...next, lastTransitionTime: lastTransitionTime ?? now.toISOString() };
  if (index >= 0) list[index] = merged;
  else list.push(merged);
  return list;
}
