/**
 * The media type of a Content-Type header — `application/json` of `Application/JSON; charset=utf-8` —
 * lower-cased, without parameters; '' when there is none. One reading for every part that picks a
 * reader, an encoding or a masker by Content-Type, as the API server picks its decoder by it.
 */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The Content-Type's parameters (`charset=utf-8`), lower-cased and trimmed. */
export function mediaTypeParameters(contentType: string | undefined): string[] {
  return (contentType ?? '').toLowerCase().split(';').slice(1).map((part) => part.trim());
}
