/**
 * `Promise.all` for writes: waits until every promise has settled before failing, so that no write is
 * still on its way once the caller has moved on (a reconcile that failed, then a revocation that deleted
 * what the late write then made). The failure reported is the first that `report` picks, else the first.
 */
export async function settleAll<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }, report: (error: unknown) => boolean = () => true): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
  if (failures.length > 0) throw failures.find(report) ?? failures[0];
  return results.map((result) => (result as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
