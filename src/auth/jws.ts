import type { KeyObject } from 'node:crypto';
import { authError } from './errors';
import { signatureThread } from './signature-thread';

/** A compact JWS split and decoded once; nothing in it is trusted until `hasValidRs256Signature` says so. */
export interface CompactJws {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  /** `<header>.<payload>` as sent: the bytes the signature covers. */
  readonly signingInput: string;
  readonly signature: string;
}

// Strict base64url without padding; Buffer's decoder would silently skip any other character.
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Splits and decodes a compact JWS, refusing anything that is not three base64url parts with JSON objects. */
export function parseCompactJws(token: string): CompactJws {
  const first = token.indexOf('.');
  const last = token.lastIndexOf('.');
  if (first <= 0 || last === first || token.indexOf('.', first + 1) !== last) {
    throw authError('malformed_token', 'not a compact JWS');
  }
  // An empty signature is left to the header checks, so `alg: none` is refused by name.
  const signature = token.slice(last + 1);
  if (signature !== '' && !isBase64Url(signature)) throw authError('malformed_token', 'signature is not base64url');
  return {
    header: decodeObject(token.slice(0, first), 'header'),
    payload: decodeObject(token.slice(first + 1, last), 'payload'),
    signingInput: token.slice(0, last),
    signature,
  };
}

/**
 * Checks an RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature. The RSA arithmetic is most of what a fresh token
 * costs, so it runs on a thread of its own, in batches, while the event loop serves other requests (see
 * `SignatureThread`). WebCrypto, which jose 6 would use, hands each check to libuv's pool through more layers and
 * more CPU per check (bench/PROFILE.md).
 */
export function hasValidRs256Signature(jws: CompactJws, key: KeyObject): Promise<boolean> {
  return signatureThread.check(jws.signingInput, jws.signature, key);
}

// Strict UTF-8 (RFC 7519 §7.2, RFC 8259 §8.1): an invalid sequence is refused, not turned into U+FFFD, and a
// byte order mark is kept, so that JSON.parse refuses it.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeObject(part: string, name: string): Record<string, unknown> {
  if (!isBase64Url(part)) throw authError('malformed_token', `${name} is not base64url`);
  let text: string;
  try {
    text = UTF8.decode(Buffer.from(part, 'base64url'));
  } catch (error) {
    throw authError('malformed_token', `${name} is not UTF-8`, error);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw authError('malformed_token', `${name} is not JSON`, error);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw authError('malformed_token', `${name} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

// A length of 1 modulo 4 cannot come from encoding whole bytes.
function isBase64Url(part: string): boolean {
  return part.length % 4 !== 1 && BASE64URL.test(part);
}
