import 'reflect-metadata';
import { Field, ObjectType, Query, Resolver } from 'type-graphql';
import { Authenticated, RequiresAppPermissions, RequiresScopes } from '../../src/authorization/directives';
import { compileAuthorization } from '../../src/authorization/permissions';
import { policies } from '../../src/authorization/policies';
import { loadConfig } from '../../src/config';
import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { protectedResourceMetadata } from '../../src/http/protected-resource';
import { buildBareSchema } from '../../src/schema/build-schema';
import { createTestServer, withTestServer, type TestServer } from '../helpers/server';

let idp: IdentityProvider;
let api: TestServer;

beforeAll(async () => {
  idp = await startIdentityProvider();
  api = await createTestServer({}, idp);
});
afterAll(async () => {
  await api.close();
  await idp.close();
});

describe('GET /.well-known/oauth-protected-resource (RFC 9728)', () => {
  it.each(['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/graphql'])(
    '%s names the App ID URI, the tenant’s issuer, the scopes the schema asks for and the header method',
    async (path) => {
      const reply = await api.get(path);
      expect(reply.status).toBe(200);
      expect(reply.headers.get('content-type')).toBe('application/json; charset=utf-8');
      // Whatever scopes the schema's directives name (an operation added with its own scope adds one), hello's among them.
      const schemaScopes = [...compileAuthorization(buildBareSchema(), policies).requirements.values()]
        .flatMap((fields) => [...fields.values()])
        .flatMap((requirement) => requirement.scopes.flat(2));
      expect(reply.body).toEqual({
        resource: `api://${idp.clientId}`,
        authorization_servers: [`${idp.url}/${idp.tenantId}/v2.0`],
        scopes_supported: [...new Set(schemaScopes)].map((scope) => `api://${idp.clientId}/${scope}`).sort(),
        bearer_methods_supported: ['header'],
      });
      expect((reply.body as { scopes_supported: string[] }).scopes_supported).toContain(
        `api://${idp.clientId}/access_as_user`,
      );
    },
  );

  it('takes the resource from AZURE_AUDIENCES when the Application ID URI is not the default', async () => {
    await withTestServer({ AZURE_AUDIENCES: 'https://api.contoso.example' }, idp, async (custom) => {
      const reply = await custom.get('/.well-known/oauth-protected-resource');
      expect(reply.body).toMatchObject({ resource: 'https://api.contoso.example' });
      const scopes = (reply.body as { scopes_supported: string[] }).scopes_supported;
      expect(scopes).toContain('https://api.contoso.example/access_as_user');
      expect(scopes.every((scope) => scope.startsWith('https://api.contoso.example/'))).toBe(true);
    });
  });

  it('lists every delegated scope of every directive, once, and no app permission', () => {
    @ObjectType({ simpleResolvers: true })
    @RequiresScopes('Files.Read')
    class File {
      @Field((_type) => String)
      @RequiresScopes(['Files.Write', 'Audit.Read'])
      name!: string;
    }
    @Resolver()
    class FileResolver {
      @Query((_returns) => File)
      @Authenticated()
      @RequiresAppPermissions('Files.Read.All')
      file(): File {
        return { name: '' };
      }
    }
    const config = loadConfig({ AZURE_TENANT_ID: idp.tenantId, API_CLIENT_ID: idp.clientId, NODE_ENV: 'test' });
    const authorization = compileAuthorization(buildBareSchema([FileResolver]), {});
    expect(protectedResourceMetadata(config, authorization)).toEqual({
      resource: `api://${idp.clientId}`,
      authorization_servers: [`https://login.microsoftonline.com/${idp.tenantId}/v2.0`],
      scopes_supported: [
        `api://${idp.clientId}/Audit.Read`,
        `api://${idp.clientId}/Files.Read`,
        `api://${idp.clientId}/Files.Write`,
      ],
      bearer_methods_supported: ['header'],
    });
  });
});

describe('resource_metadata in challenges (RFC 9728 §5.1)', () => {
  const metadata = (origin: string) => `resource_metadata="${origin}/.well-known/oauth-protected-resource"`;

  it('is added to every 401 challenge, and to no other', async () => {
    const missing = await api.queryWithoutToken('{ hello { username } }');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe(`Bearer ${metadata(api.url)}`);

    const garbled = await api.queryWithToken('not.a.token', '{ hello { username } }');
    expect(garbled.status).toBe(401);
    expect(garbled.headers.get('www-authenticate')).toMatch(
      /^Bearer error="invalid_token", error_description="[^"]+", /,
    );
    expect(garbled.headers.get('www-authenticate')?.endsWith(`, ${metadata(api.url)}`)).toBe(true);

    const forbidden = await api.queryWithToken(await idp.mint({ scopes: 'Files.Read' }), '{ hello { username } }');
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope", scope="access_as_user"');

    const fine = await api.queryWithToken(await idp.mint(), '{ hello { username } }');
    expect(fine.status).toBe(200);
    expect(fine.headers.get('www-authenticate')).toBeNull();
  });

  it('names the URL the client reached: behind a trusted proxy, its forwarded host and proto', async () => {
    await withTestServer({ TRUST_PROXY: '1' }, idp, async (proxied) => {
      const reply = await proxied.post(JSON.stringify({ query: '{ hello { username } }' }), {
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'api.contoso.example',
        'x-forwarded-for': '203.0.113.7',
      });
      expect(reply.status).toBe(401);
      expect(reply.headers.get('www-authenticate')).toBe(`Bearer ${metadata('https://api.contoso.example')}`);
    });
  });
});
