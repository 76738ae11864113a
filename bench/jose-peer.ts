// What the peers that verify every request share: jose's jwtVerify against the local identity provider's key set
// (fetched once, no cache of verified tokens), and the greeting built from the claims.
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

const authority = process.env['AZURE_AUTHORITY_HOST'] as string;
const tenant = process.env['AZURE_TENANT_ID'] as string;
const clientId = process.env['AZURE_CLIENT_ID'] as string;
const keys = createRemoteJWKSet(new URL(`${authority}/${tenant}/discovery/v2.0/keys`));

/** The claims of the Authorization header's bearer token; rejects when the token does not verify. */
export async function verifiedClaims(authorization: string | undefined): Promise<JWTPayload> {
  const token = (authorization ?? '').replace(/^Bearer /i, '');
  const { payload } = await jwtVerify(token, keys, {
    issuer: `${authority}/${tenant}/v2.0`,
    audience: clientId,
    algorithms: ['RS256'],
  });
  return payload;
}

/** hello's User, as the product answers it. */
export function userOf(claims: JWTPayload) {
  return {
    username: claims['preferred_username'],
    employeeId: claims['employeeid'] ?? null,
    scopes: String(claims['scp'] ?? '').split(' '),
    roles: claims['roles'] ?? [],
    name: claims['name'] ?? null,
    tenantId: claims['tid'],
    objectId: claims['oid'],
    kind: 'USER',
    isGuest: false,
    message: 'Hello World! You are authenticated.',
  };
}
