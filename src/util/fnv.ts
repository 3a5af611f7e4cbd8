/**
 * FNV-1a, 32 bits: a fast, stable spread of strings over buckets (not a digest: anyone can make two
 * strings collide, which for spreading load costs nothing).
 */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}
