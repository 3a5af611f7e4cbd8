/** The fields that have a value: a report leaves out what a grant, request or call does not say, rather than writing it as undefined. */
export function defined<T extends Record<string, string | undefined>>(fields: T): Partial<Record<keyof T, string>> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<Record<keyof T, string>>;
}
