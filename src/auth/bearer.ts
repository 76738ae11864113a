import { AuthError } from './errors';

/** Longest Authorization header value accepted; Entra tokens with group overage stay well below it. */
export const MAX_AUTHORIZATION_LENGTH = 16 * 1024;

const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Reads the bearer token from the Authorization header value(s) of a request.
 * Returns undefined when there is no header at all (an anonymous caller); throws for anything else that is not
 * exactly one Bearer credential. Knows nothing about HTTP frameworks: pass `req.headersDistinct.authorization`
 * or the raw header string.
 */
export function extractBearerToken(header: string | readonly string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string') {
    if (header.length === 0) return undefined;
    if (header.length > 1) {
      throw new AuthError('invalid_authorization_header', { detail: 'several Authorization headers' });
    }
    return extractBearerToken(header[0]);
  }
  if (header.length > MAX_AUTHORIZATION_LENGTH) {
    throw new AuthError('token_too_large', { detail: `Authorization header of ${header.length} characters` });
  }
  const match = BEARER.exec(header);
  if (!match) {
    throw new AuthError('invalid_authorization_header', { detail: describeScheme(header) });
  }
  return match[1];
}

function describeScheme(header: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9\-_]{0,19}/.exec(header.trim())?.[0];
  if (!scheme) return 'Authorization header without a scheme';
  return scheme.toLowerCase() === 'bearer'
    ? 'Bearer scheme without exactly one token'
    : `unsupported scheme '${scheme}'`;
}
