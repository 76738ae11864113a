import { extractBearerToken, MAX_AUTHORIZATION_LENGTH } from '../../src/auth';
import { type AuthError } from '../../src/auth';

function refusal(header: string | string[]): AuthError {
  try {
    extractBearerToken(header);
  } catch (error) {
    return error as AuthError;
  }
  throw new Error('expected a refusal');
}

describe('extractBearerToken', () => {
  it('returns undefined when no Authorization header was sent', () => {
    expect(extractBearerToken(undefined)).toBeUndefined();
    expect(extractBearerToken([])).toBeUndefined();
  });

  it.each(['Bearer abc.def.ghi', 'bearer abc.def.ghi', 'BEARER   abc.def.ghi  '])(
    'reads the token from %j',
    (header) => {
      expect(extractBearerToken(header)).toBe('abc.def.ghi');
      expect(extractBearerToken([header])).toBe('abc.def.ghi');
    },
  );

  it.each([
    ['Basic dXNlcjpwYXNz', 'scheme basic'],
    ['Negotiate YIIB', 'scheme negotiate'],
    ['Digest username="a", realm="b"', 'scheme digest'],
    // A credential sent without its scheme: neither it nor a part of it is repeated.
    ['abc.def.ghi', 'an unknown scheme of 11 characters, or a credential without a scheme'],
    ['YGlG3N_M0JcKF54h7Vr7aZ', 'an unknown scheme of 22 characters, or a credential without a scheme'],
  ])('refuses the other scheme of %j with a bare challenge (RFC 6750 §3.1)', (header, detail) => {
    const error = refusal(header);
    expect(error).toMatchObject({ reason: 'unsupported_scheme', category: null, status: 401, detail });
    expect(error.description).toBe("Authentication required: send an 'Authorization: Bearer <access token>' header");
  });

  it.each([
    ['Bearer', 'Bearer scheme without exactly one token'],
    ['Bearer ', 'Bearer scheme without exactly one token'],
    ['Bearer a.b.c d.e.f', 'Bearer scheme without exactly one token'],
    ['Bearer a.b.c, Bearer d.e.f', 'Bearer scheme without exactly one token'],
    ['Bearer\tabc.def.ghi', 'Authorization header without a scheme'],
    ['', 'Authorization header without a scheme'],
    ['{"token":1}', 'Authorization header without a scheme'],
    [' =abc', 'Authorization header without a scheme'],
  ])('refuses %j as invalid_request', (header, detail) => {
    const error = refusal(header);
    expect(error).toMatchObject({
      reason: 'invalid_authorization_header',
      category: 'invalid_request',
      status: 400,
      detail,
    });
    expect(error.description).toBe(
      "The Authorization header must hold exactly one credential of the form 'Bearer <access token>'",
    );
  });

  it('refuses two Authorization headers', () => {
    expect(refusal(['Bearer a.b.c', 'Bearer d.e.f'])).toMatchObject({
      reason: 'invalid_authorization_header',
      detail: 'several Authorization headers',
    });
  });

  it('refuses a header above the size cap without parsing it', () => {
    const error = refusal(`Bearer ${'a'.repeat(MAX_AUTHORIZATION_LENGTH)}`);
    expect(error).toMatchObject({ reason: 'token_too_large', status: 400, category: 'invalid_request' });
    expect(error.detail).toBe(`Authorization header of ${MAX_AUTHORIZATION_LENGTH + 7} characters`);
  });

  it('never puts the credential into the error', () => {
    const error = refusal('Basic c2VjcmV0LXBhc3N3b3Jk');
    expect(JSON.stringify({ ...error, message: error.message })).not.toContain('c2VjcmV0LXBhc3N3b3Jk');
  });
});
