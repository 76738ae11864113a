/**
 * Every Authorization header of a request, from its raw header list: Node keeps only the first in `headers`, and
 * `headersDistinct` builds arrays for all headers, so the raw list is scanned for the one name. Two headers come
 * back as an array, which the bearer parser refuses.
 */
export function authorizationHeaders(rawHeaders: readonly string[]): string | string[] | undefined {
  let found: string | string[] | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length !== 13 || name.toLowerCase() !== 'authorization') continue;
    const value = rawHeaders[i + 1] as string;
    found = found === undefined ? value : [...(typeof found === 'string' ? [found] : found), value];
  }
  return found;
}
