import { isIPv4, isIPv6 } from 'node:net';

/**
 * The client's address: the socket's peer, or with `trustedHops` proxies in front, the address the outermost
 * trusted proxy saw, read from the right of X-Forwarded-For. Entries that are not IP addresses are ignored (only
 * the part of the header a client wrote can hold them), ports that some proxies append are dropped, and addresses
 * are normalised: an IPv4-mapped IPv6 address is its IPv4 address, IPv6 is lower case and compressed.
 */
export function clientAddress(
  socketAddress: string | undefined,
  forwardedFor: string | string[] | undefined,
  trustedHops: number,
): string {
  const peer = normalizeAddress(socketAddress ?? '') ?? 'unknown';
  if (trustedHops === 0 || forwardedFor === undefined) return peer;
  const entries = (typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(',')).split(',');
  let address = peer;
  let hops = 0;
  for (let i = entries.length - 1; i >= 0 && hops < trustedHops; i -= 1) {
    const entry = normalizeAddress(withoutPort((entries[i] as string).trim()));
    if (entry === undefined) continue;
    address = entry;
    hops += 1;
  }
  return address;
}

/**
 * The key whose failure budget an address spends: an IPv4 address itself, and for IPv6 its /64 network, since one
 * host is routinely given a whole /64 and could otherwise draw on 2^64 budgets.
 */
export function budgetKeyOf(address: string): string {
  if (!address.includes(':')) return address;
  const network = expandIPv6(address)
    .slice(0, 4)
    .map((group) => group.toString(16));
  return `${network.join(':')}::/64`;
}

/** The canonical form of an IP address, or undefined when `value` is none. */
export function normalizeAddress(value: string): string | undefined {
  const zone = value.indexOf('%');
  const address = zone === -1 ? value : value.slice(0, zone);
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return undefined;
  const groups = expandIPv6(address);
  // ::ffff:a.b.c.d, an IPv4 client of a dual-stack socket.
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high, low] = [groups[6] as number, groups[7] as number];
    return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  return compressIPv6(groups);
}

function withoutPort(entry: string): string {
  if (entry.startsWith('[')) {
    const end = entry.indexOf(']');
    return end === -1 ? entry : entry.slice(1, end);
  }
  // One colon: IPv4 with a port. More: IPv6 without brackets, which carries no port.
  const colon = entry.indexOf(':');
  return colon !== -1 && colon === entry.lastIndexOf(':') ? entry.slice(0, colon) : entry;
}

/** The eight 16-bit groups of a valid IPv6 address (with or without an embedded IPv4 tail). */
function expandIPv6(address: string): number[] {
  let text = address.toLowerCase();
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = rest === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16));
}

/** RFC 5952: lower case, no leading zeros, the longest run (two or more) of zero groups as `::`. */
function compressIPv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
