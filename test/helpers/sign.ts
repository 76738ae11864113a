import { KeyObject, sign } from 'node:crypto';
import type { SigningKey } from '../../src/dev/signing-key';

/**
 * Signs header and payload given as exact JSON text (or bytes) with RS256, as the identity provider would: what an
 * attacker holding no key cannot do, and what a parser's odd corners (duplicate keys, `__proto__`, BOMs, invalid
 * UTF-8) need to be reached past the signature check.
 */
export function signRaw(key: SigningKey, header: string | Buffer, payload: string | Buffer): string {
  const input = `${Buffer.from(header).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
  const signature = sign('sha256', Buffer.from(input), KeyObject.from(key.privateKey));
  return `${input}.${signature.toString('base64url')}`;
}

/** A JSON object's text from entries, so that keys such as `__proto__` and duplicates stay in the text. */
export function objectText(entries: readonly (readonly [string, unknown])[]): string {
  return `{${entries.map(([name, value]) => `${JSON.stringify(name)}:${JSON.stringify(value) ?? 'null'}`).join(',')}}`;
}
