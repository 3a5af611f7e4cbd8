/**
 * Writing server-sent events (the gateway's live feed and the console's relay of it). A data text may
 * hold line breaks — JSON may, between its tokens, and a relayed message is whatever its reader joined —
 * so each of its lines goes in a `data:` field of its own, which a reader joins back with `\n`; a
 * break written raw would end the field and make the rest of the text a line the reader drops.
 */
export function sseEvent(event: string, data: string): string {
  return `event: ${event}\n${data
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('')}\n`;
}

/** An event whose data is `value` as JSON. */
export function sseJson(event: string, value: unknown): string {
  return sseEvent(event, JSON.stringify(value));
}
