import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Authorization } from '../authorization/permissions';
import type { Config } from '../config';

/** Where OAuth clients (MCP clients among them) find this API's protected resource metadata (RFC 9728 §3). */
export const METADATA_PATH = '/.well-known/oauth-protected-resource';

/** RFC 9728 §2: what a client needs to find the authorization server and the scopes to ask it for. */
export interface ProtectedResourceMetadata {
  readonly resource: string;
  readonly authorization_servers: readonly string[];
  readonly scopes_supported: readonly string[];
  readonly bearer_methods_supported: readonly string[];
}

/**
 * The metadata of this API: its App ID URI as the resource, the tenant's Entra ID issuer as the authorization
 * server, and every delegated scope the schema's directives name, as a client asks Entra ID for them
 * (`api://<client id>/access_as_user`).
 */
export function protectedResourceMetadata(config: Config, authorization: Authorization): ProtectedResourceMetadata {
  const resource = config.auth.audiences[0] as string;
  const scopes = new Set<string>();
  for (const fields of authorization.requirements.values()) {
    for (const requirement of fields.values()) {
      for (const name of requirement.scopes.flat(2)) scopes.add(`${resource}/${name}`);
    }
  }
  return {
    resource,
    authorization_servers: [`${new URL(config.auth.authorityHost).origin}/${config.auth.tenantId}/v2.0`],
    scopes_supported: [...scopes].sort(),
    bearer_methods_supported: ['header'],
  };
}

/**
 * Serves the metadata at the well-known path, and at that path followed by `/graphql` (RFC 9728 §3.1, for clients
 * that derive it from the endpoint's URL); and adds `resource_metadata` (§5.1) to the challenge of every 401, so that
 * a client told to authenticate learns where. 403 challenges are left as RFC 6750 has them.
 */
export const protectedResourceRoutes = fp<{ config: Config; authorization: Authorization }>(
  async (app, { config, authorization }) => {
    const body = JSON.stringify(protectedResourceMetadata(config, authorization));
    for (const path of [METADATA_PATH, `${METADATA_PATH}/graphql`]) {
      app.get(path, async (_request, reply) => reply.type('application/json').send(body));
    }
    app.addHook('onSend', (request, reply, payload, done) => {
      if (reply.statusCode === 401) {
        const challenge = reply.getHeader('www-authenticate');
        if (typeof challenge === 'string' && challenge.startsWith('Bearer')) {
          const attribute = `resource_metadata="${metadataUrl(request)}"`;
          reply.header(
            'www-authenticate',
            challenge === 'Bearer' ? `Bearer ${attribute}` : `${challenge}, ${attribute}`,
          );
        }
      }
      done(null, payload);
    });
  },
  { name: 'protected-resource-metadata' },
);

/** The metadata's URL as this request reached the API (the Host and, behind TRUST_PROXY, the forwarded proto). */
function metadataUrl(request: FastifyRequest): string {
  // The onRequest hook refused a malformed Host; quotes and backslashes cannot end up in the challenge anyway.
  return `${request.protocol}://${request.host}${METADATA_PATH}`.replace(/["\\]/g, '');
}
