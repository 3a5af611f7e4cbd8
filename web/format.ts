/** How times, durations and a grant's access read on the pages. */

const pad = (n: number) => String(n).padStart(2, '0');

/** `2026-12-01 18:15:59` in the viewer's time zone; the raw text when it is not a time. */
export function time(iso: string | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** `18:15:59.123`: a timeline's times, where the day is in the header. */
export function clock(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** `3h 5m`, `42s`: a span in the largest two units. */
export function span(milliseconds: number): string {
  const seconds = Math.max(0, Math.round(milliseconds / 1000));
  const units: [string, number][] = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]];
  const parts: string[] = [];
  let rest = seconds;
  for (const [unit, size] of units) {
    if (rest >= size || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/** `in 42m` / `3m ago` relative to now. */
export function relative(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const at = new Date(iso).getTime();
  if (Number.isNaN(at)) return iso;
  return at >= now ? `in ${span(at - now)}` : `${span(now - at)} ago`;
}

/** A session's length: started → ended, or running for. */
export function duration(started: string, ended?: string): string {
  const from = new Date(started).getTime();
  const to = ended ? new Date(ended).getTime() : Date.now();
  return Number.isNaN(from) || Number.isNaN(to) ? '' : span(to - from);
}

/** `User/deploy-bot`, `ServiceAccount/ci/runner`, `payments/deploy-bot`: a subject or object reference, however the server spells it. */
export function nameOf(ref: unknown): string {
  if (typeof ref === 'string') return ref;
  if (typeof ref !== 'object' || ref === null) return ref === undefined ? '' : String(ref);
  const { kind, namespace, name } = ref as { kind?: string; namespace?: string; name?: string };
  return [kind, namespace, name].filter((part) => part !== undefined && part !== '').join('/');
}

/** A grant's access (AccessGrant `spec.access`: role bindings) as short lines: `edit in payments`, `view (cluster-wide)`. */
export function accessLines(access: unknown): string[] {
  if (typeof access === 'string') return [access];
  if (!Array.isArray(access)) return access === undefined || access === null ? [] : [JSON.stringify(access)];
  return access.map((binding) => {
    if (typeof binding !== 'object' || binding === null) return String(binding);
    const b = binding as { namespace?: string; clusterRole?: string; role?: string };
    const role = b.clusterRole ?? b.role;
    if (!role) return JSON.stringify(binding);
    return b.namespace ? `${role} in ${b.namespace}` : `${role} (cluster-wide)`;
  });
}
