import { AuthError } from './errors';

/** Longest Authorization header value accepted; Entra tokens with group overage stay well below it. */
export const MAX_AUTHORIZATION_LENGTH = 16 * 1024;

// RFC 7235 credentials: an auth-scheme (a token), then optionally whitespace and the rest.
const CREDENTIALS = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?: +(.*))?$/s;
/**
 * Registered HTTP authentication schemes (IANA), and a few common ones, named in the log when refused. Any other
 * word before the credential may be the credential itself (a token sent without `Bearer `): it is never logged.
 */
const KNOWN_SCHEMES = new Set([
  'basic',
  'digest',
  'negotiate',
  'ntlm',
  'dpop',
  'hoba',
  'mutual',
  'vapid',
  'scram-sha-1',
  'scram-sha-256',
  'privatetoken',
  'concealed',
  'aws4-hmac-sha256',
  'token',
  'apikey',
]);

// RFC 6750 b64token, with the spaces around it that clients leave.
const B64TOKEN = /^([A-Za-z0-9\-._~+/]+=*) *$/;

/**
 * Reads the bearer token from the Authorization header value(s) of a request.
 * Returns undefined when there is no header at all (an anonymous caller). Throws `unsupported_scheme` for another
 * scheme (Basic, Negotiate, ...: a 401 with a bare challenge, RFC 6750 §3.1) and `invalid_authorization_header`
 * for anything else that is not exactly one Bearer credential. Knows nothing about HTTP frameworks: pass
 * `req.headersDistinct.authorization` or the raw header string.
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
  const credentials = CREDENTIALS.exec(header.trim());
  if (!credentials) {
    throw new AuthError('invalid_authorization_header', { detail: 'Authorization header without a scheme' });
  }
  const scheme = (credentials[1] as string).toLowerCase();
  if (scheme !== 'bearer') {
    const detail = KNOWN_SCHEMES.has(scheme)
      ? `scheme ${scheme}`
      : `an unknown scheme of ${scheme.length} characters, or a credential without a scheme`;
    throw new AuthError('unsupported_scheme', { detail });
  }
  const token = B64TOKEN.exec(credentials[2] ?? '');
  if (!token) {
    throw new AuthError('invalid_authorization_header', { detail: 'Bearer scheme without exactly one token' });
  }
  return token[1];
}
