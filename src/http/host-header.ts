/**
 * Checks the host and protocol a request names (Host, or X-Forwarded-Host/-Proto from a trusted proxy) before
 * anything builds a URL from them: Apollo's Fastify integration does, and an unparsable value would surface as a
 * 500 "Invalid URL". The answer is a 400 naming the header instead.
 */

// Characters that would move text out of the host part of a URL (path, query, fragment, user info) or are
// never part of one.
const NOT_A_HOST = /[\s/?#@\\]/;
const checked = new Map<string, boolean>();
// Hosts repeat (a service has a few names); the bound keeps a flood of made-up names from growing the map.
const MAX_REMEMBERED = 1000;

/** Why the request's host or protocol cannot be used, or undefined when both are fine. */
export function hostHeaderProblem(host: string, protocol: string | undefined): string | undefined {
  if (protocol !== 'http' && protocol !== 'https') return 'Invalid X-Forwarded-Proto header: send http or https';
  let valid = checked.get(host);
  if (valid === undefined) {
    // The WHATWG parser decides, as it is the one that would throw: numeric hosts must be IPv4 addresses,
    // bracketed ones IPv6, ports in range, and so on.
    valid = host !== '' && !NOT_A_HOST.test(host) && URL.canParse(`http://${host}/`);
    if (checked.size >= MAX_REMEMBERED) checked.clear();
    checked.set(host, valid);
  }
  return valid ? undefined : 'Invalid Host header: send the host name (and port) of this API';
}
