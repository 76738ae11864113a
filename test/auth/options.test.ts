import { createTokenVerifier, type VerifierOptions } from '../../src/auth';

const base: VerifierOptions = {
  tenantId: '7b6a1c4e-0d3f-4c2a-9e51-3f8d2b7a6c10',
  clientId: 'b3c1e0f2-5a4d-4e6b-8c7a-9d2f1e0a3b45',
  authorityHost: 'https://login.microsoftonline.com',
};

describe('verifier options', () => {
  it.each([
    [{ tenantId: 'contoso.onmicrosoft.com' }, 'tenantId must be a tenant GUID, "organizations" or "common"'],
    [{ clientId: 'my-api' }, 'clientId must be the application (client) id GUID'],
    [
      { authorityHost: 'http://login.microsoftonline.com' },
      'authorityHost must be an https URL without a path (plain http only for loopback hosts)',
    ],
    [
      { authorityHost: 'https://login.microsoftonline.com/tenant' },
      'authorityHost must be an https URL without a path (plain http only for loopback hosts)',
    ],
    [
      { authorityHost: 'not a url' },
      'authorityHost must be an https URL without a path (plain http only for loopback hosts)',
    ],
    [{ tenantId: 'organizations' }, 'allowedTenants must list the accepted tenant GUIDs when tenantId is multi-tenant'],
    [
      { allowedTenants: ['0f0e0d0c-0b0a-4909-8807-060504030201'] },
      'allowedTenants is only for a multi-tenant tenantId ("organizations" or "common")',
    ],
    [{ tenantId: 'common', allowedTenants: ['contoso'] }, 'allowedTenants must be tenant GUIDs'],
    [{ acceptedVersions: [] }, 'acceptedVersions must hold "1.0", "2.0" or both'],
    [{ acceptedVersions: ['3.0'] as never }, 'acceptedVersions must hold "1.0", "2.0" or both'],
    [{ audiences: [] }, 'audiences must hold at least one non-empty value'],
    [{ audiences: [''] }, 'audiences must hold at least one non-empty value'],
    [{ clockSkewSeconds: -1 }, 'clockSkewSeconds must be a whole number >= 0'],
    [{ httpTimeoutMs: 1.5 }, 'httpTimeoutMs must be a whole number >= 0'],
    [{ keyRefreshIntervalSeconds: 0 }, 'keyRefreshIntervalSeconds must be at least 1'],
    [{ employeeIdClaim: '' }, 'employeeIdClaim must name a claim'],
    [{ tenantType: 'b2c' as never }, 'tenantType must be "workforce" or "external"'],
    [
      {
        tenantType: 'external' as const,
        tenantId: 'organizations',
        allowedTenants: ['0f0e0d0c-0b0a-4909-8807-060504030201'],
      },
      'tenantId of an External ID tenant must be its tenant GUID',
    ],
    [
      { tenantType: 'external' as const, acceptedVersions: ['1.0', '2.0'] as const },
      'An External ID tenant is trusted for v2 access tokens only: acceptedVersions must be ["2.0"]',
    ],
  ])('refuses %j with a TypeError that says what to set', (override, message) => {
    expect(() => createTokenVerifier({ ...base, ...override })).toThrow(new TypeError(message));
  });

  it('works without a logger', async () => {
    const verifier = createTokenVerifier({ ...base, authorityHost: 'http://127.0.0.1:9', httpTimeoutMs: 500 });
    await verifier.start();
    expect(verifier.ready()).toBe(false);
    verifier.stop();
  });

  it.each([
    'http://localhost:4010',
    'http://127.0.0.1',
    'http://127.1.2.3:80',
    'http://[::1]:4010',
    'https://login.microsoftonline.us',
  ])('accepts the authority host %s', (authorityHost) => {
    expect(createTokenVerifier({ ...base, authorityHost }).ready()).toBe(false);
  });
});
