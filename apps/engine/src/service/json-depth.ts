/**
 * How deep a JSON text nests, found without parsing it. JSON.parse itself copes with
 * deep nesting, but what runs on the parsed value afterwards (duplicate-key scan,
 * schema validation, the graph validator) recurses, and a body of 100,000 `[` would
 * overflow the stack there: a 500 instead of a clear 400. The service refuses such a
 * body before anything walks it.
 */
export const MAX_JSON_DEPTH = 256;

/** The offset at which `text` nests deeper than `limit`, or -1 when it never does. Strings are skipped (with their escapes). */
export function tooDeepAt(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
}
