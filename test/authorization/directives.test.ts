import 'reflect-metadata';
import { ApolloServer } from '@apollo/server';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { GraphQLError } from 'graphql';
import { Arg, Field, ID, Mutation, ObjectType, Query, Resolver } from 'type-graphql';
import type { Principal } from '../../src/auth';
import {
  Authenticated,
  Policy,
  Public,
  RequiresAppPermissions,
  RequiresAuthContext,
  RequiresRoles,
  RequiresScopes,
} from '../../src/authorization/directives';
import { compileAuthorization } from '../../src/authorization/permissions';
import { decide, type Policies } from '../../src/authorization/requirements';
import { errorResponsePlugin, forbidden, formatError } from '../../src/graphql/errors';
import { rejectUnauthorized } from '../../src/http/reject-unauthorized';
import { buildBareSchema, buildSchema } from '../../src/schema/build-schema';
import type { Context } from '../../src/schema/context';
import { principals, withPermissions } from '../helpers/principals';

/** Every resolver that runs says so here: a refused field's resolver must never appear. */
const calls: string[] = [];
const ran = <T>(name: string, value: T): T => {
  calls.push(name);
  return value;
};

@ObjectType({ simpleResolvers: true })
@RequiresScopes('Vault.Read')
class Vault {
  @Field((_type) => String)
  label!: string;

  @Field((_type) => String, { nullable: true })
  @RequiresScopes('Vault.Audit')
  audit!: string | null;
}

@ObjectType()
class Document {
  @Field((_type) => ID)
  @Authenticated()
  id!: string;

  @Field((_type) => String, { nullable: true })
  @Policy('owner')
  body(): string {
    return ran('Document.body', `body of ${this.id}`);
  }

  ownerId!: string;
}

@Resolver()
class ProbeResolver {
  @Query((_returns) => String)
  @Public()
  open(): string {
    return ran('open', 'open');
  }

  @Query((_returns) => String, { nullable: true })
  @RequiresScopes('A', ['B', 'C'])
  scoped(): string {
    return ran('scoped', 'scoped');
  }

  @Query((_returns) => String, { nullable: true })
  @RequiresAppPermissions('Jobs.Run.All')
  appOnly(): string {
    return ran('appOnly', 'appOnly');
  }

  @Query((_returns) => String, { nullable: true })
  @RequiresScopes('Jobs.Read')
  @RequiresAppPermissions('Jobs.Read.All')
  either(): string {
    return ran('either', 'either');
  }

  @Query((_returns) => String, { nullable: true })
  @RequiresScopes('Jobs.Read')
  @RequiresRoles('Approver', ['Auditor', 'Reviewer'])
  approvals(): string {
    return ran('approvals', 'approvals');
  }

  @Query((_returns) => Vault, { nullable: true })
  @Authenticated()
  vault(): Vault {
    return ran('vault', { label: 'main', audit: 'clean' });
  }

  @Query((_returns) => Document, { nullable: true })
  @Policy('same_tenant')
  document(@Arg('tenant', (_type) => String) tenant: string): Document {
    // Every document here belongs to Ada (principals.v2User).
    return ran('document', Object.assign(new Document(), { id: `${tenant}/1`, ownerId: principals.v2User.objectId }));
  }

  @Query((_returns) => String, { nullable: true })
  @Policy(['member', 'same_tenant'], 'break_glass')
  sensitive(@Arg('tenant', (_type) => String) _tenant: string): string {
    return ran('sensitive', 'sensitive');
  }

  @Query((_returns) => String, { nullable: true })
  @RequiresScopes('Payroll.Read')
  @RequiresAuthContext('c1')
  payroll(): string {
    return ran('payroll', 'payroll');
  }

  @Query((_returns) => String, { nullable: true })
  forgotten(): string {
    return ran('forgotten', 'forgotten');
  }

  @Mutation((_returns) => String, { nullable: true })
  @RequiresScopes('Jobs.Write')
  @RequiresAppPermissions('Jobs.Write.All')
  startJob(@Arg('name', (_type) => String) name: string): string {
    return ran('startJob', `started ${name}`);
  }
}

const testPolicies: Policies = {
  member: ({ caller }) => !caller.isGuest,
  same_tenant: ({ caller, args }) => args['tenant'] === caller.tenantId,
  owner: ({ caller, parent }) => (parent as Document).ownerId === caller.objectId,
  // Asynchronous, and refusing with its own error.
  break_glass: async ({ caller }) =>
    caller.roles.includes('BreakGlass') || forbidden('Break-glass access is not granted to you', 'break_glass_denied'),
};

const bare = buildBareSchema([ProbeResolver]);
const TENANT = principals.v2User.tenantId;

function server(mode: 'filter' | 'reject') {
  const { schema, authorization } = buildSchema({ bare, policies: testPolicies });
  return new ApolloServer<Context>({
    schema,
    formatError,
    plugins: [
      errorResponsePlugin<Context>(),
      ...(mode === 'reject' ? [rejectUnauthorized(authorization, () => undefined)] : []),
    ],
  });
}
const servers = { filter: server('filter'), reject: server('reject') };

async function ask(
  principal: Principal | null,
  query: string,
  { mode = 'filter', variables }: { mode?: 'filter' | 'reject'; variables?: Record<string, unknown> } = {},
) {
  calls.length = 0;
  const response = await servers[mode].executeOperation(
    { query, ...(variables && { variables }) },
    { contextValue: { principal } },
  );
  if (response.body.kind !== 'single') throw new Error('expected a single result');
  return {
    status: response.http.status,
    challenge: response.http.headers.get('www-authenticate'),
    result: response.body.singleResult,
    calls: [...calls],
  };
}

const user = (scopes: string[], roles: string[] = []) => withPermissions(principals.v2User, { scopes, roles });
const app = (roles: string[]) => withPermissions(principals.app, { roles });
const reasonsOf = (result: { errors?: readonly { extensions?: Record<string, unknown> }[] }) =>
  result.errors?.map((error) => error.extensions?.['reason']);

describe('the printed schema', () => {
  const sdl = printSchemaWithDirectives(bare);

  it('declares every authorization directive', () => {
    for (const definition of [
      'directive @public on OBJECT | FIELD_DEFINITION',
      'directive @authenticated on OBJECT | FIELD_DEFINITION',
      'directive @requiresScopes(scopes: [[String!]!]!) on OBJECT | FIELD_DEFINITION',
      'directive @requiresAppPermissions(permissions: [[String!]!]!) on OBJECT | FIELD_DEFINITION',
      'directive @requiresRoles(roles: [[String!]!]!) on OBJECT | FIELD_DEFINITION',
      'directive @policy(policies: [[String!]!]!) on OBJECT | FIELD_DEFINITION',
    ]) {
      expect(sdl).toContain(definition);
    }
  });

  it('shows each where it applies, with its alternatives', () => {
    expect(sdl).toContain('open: String! @public');
    expect(sdl).toContain('scoped: String @requiresScopes(scopes: [["A"], ["B", "C"]])');
    expect(sdl).toContain(
      'either: String @requiresScopes(scopes: [["Jobs.Read"]]) @requiresAppPermissions(permissions: [["Jobs.Read.All"]])',
    );
    expect(sdl).toContain(
      'approvals: String @requiresScopes(scopes: [["Jobs.Read"]]) @requiresRoles(roles: [["Approver"], ["Auditor", "Reviewer"]])',
    );
    expect(sdl).toContain('type Vault @requiresScopes(scopes: [["Vault.Read"]]) {');
    expect(sdl).toContain(
      'sensitive(tenant: String!): String @policy(policies: [["member", "same_tenant"], ["break_glass"]])',
    );
    expect(sdl).toContain('forgotten: String\n');
  });
});

describe('@public and @authenticated', () => {
  it('answer @public without a token, and ask a token for anything else', async () => {
    expect(await ask(null, '{ open }')).toEqual({
      status: undefined,
      challenge: undefined,
      result: { data: { open: 'open' } },
      calls: ['open'],
    });
    const { status, challenge, result, calls: run } = await ask(null, '{ vault { label } }');
    expect({ status, challenge, run }).toEqual({ status: 401, challenge: 'Bearer', run: [] });
    expect(result.errors).toEqual([
      {
        message: 'Authentication required: send an Authorization: Bearer <access token> header',
        locations: [{ line: 1, column: 3 }],
        path: ['vault'],
        extensions: { code: 'UNAUTHENTICATED', reason: 'missing_token' },
      },
    ]);
  });

  it('let any verified caller through @authenticated, user or app', async () => {
    // Query.vault is @authenticated alone; __typename needs nothing more.
    for (const caller of [user([]), app([])]) {
      expect(await ask(caller, '{ vault { __typename } }')).toMatchObject({
        status: undefined,
        result: { data: { vault: { __typename: 'Vault' } } },
        calls: ['vault'],
      });
    }
  });
});

describe('@requiresScopes: OR of AND groups, on scp', () => {
  it.each([
    [['A'], true],
    [['B', 'C'], true],
    [['C', 'X', 'B'], true],
    [['B'], false],
    [['C'], false],
    [['a'], false],
    [[], false],
  ])('a user with %j: admitted %s', async (scopes, admitted) => {
    const { result, status, calls: run } = await ask(user(scopes), '{ scoped }');
    if (admitted) {
      expect({ result, status, run }).toEqual({
        result: { data: { scoped: 'scoped' } },
        status: undefined,
        run: ['scoped'],
      });
      return;
    }
    expect({ status, run }).toEqual({ status: 403, run: [] });
    expect(result).toEqual({
      data: { scoped: null },
      errors: [
        {
          message: 'This operation needs the delegated scopes: A, or B and C',
          locations: [{ line: 1, column: 3 }],
          path: ['scoped'],
          extensions: { code: 'FORBIDDEN', reason: 'insufficient_scope', scope: 'A B C', scopes: [['A'], ['B', 'C']] },
        },
      ],
    });
  });

  it('refuses app-only tokens with their own reason, whatever roles they hold', async () => {
    const { result, status, challenge } = await ask(app(['A', 'B', 'C']), '{ scoped }');
    expect({ status, challenge }).toEqual({ status: 403, challenge: 'Bearer error="insufficient_scope"' });
    expect(result.errors?.[0]).toMatchObject({
      message: 'App-only tokens are not accepted by this operation',
      extensions: { code: 'FORBIDDEN', reason: 'app_tokens_not_accepted' },
    });
  });
});

describe('@requiresAppPermissions, alone and with @requiresScopes', () => {
  it('admits an app holding the permission in roles, and refuses users with their own reason', async () => {
    expect((await ask(app(['Jobs.Run.All']), '{ appOnly }')).result).toEqual({ data: { appOnly: 'appOnly' } });
    const refused = await ask(user(['Jobs.Run.All'], ['Jobs.Run.All']), '{ appOnly }');
    expect(refused.status).toBe(403);
    expect(refused.result.errors?.[0]).toMatchObject({
      message: 'User tokens are not accepted by this operation: it serves applications',
      extensions: { code: 'FORBIDDEN', reason: 'user_tokens_not_accepted' },
    });
  });

  it('lets each caller kind through its own list, never across kinds', async () => {
    expect((await ask(user(['Jobs.Read']), '{ either }')).result).toEqual({ data: { either: 'either' } });
    expect((await ask(app(['Jobs.Read.All']), '{ either }')).result).toEqual({ data: { either: 'either' } });
    // A user's app-role assignment named like the app permission, and an app holding the scope's name as a role.
    const userWithRole = await ask(user([], ['Jobs.Read.All']), '{ either }');
    expect(reasonsOf(userWithRole.result)).toEqual(['insufficient_scope']);
    const appWithScopeName = await ask(app(['Jobs.Read']), '{ either }');
    expect(appWithScopeName.challenge).toBe('Bearer error="insufficient_scope", scope="Jobs.Read.All"');
    expect(appWithScopeName.result.errors?.[0]).toMatchObject({
      message: 'This operation needs one of the app roles: Jobs.Read.All',
      extensions: { reason: 'missing_app_role', scope: 'Jobs.Read.All', permissions: [['Jobs.Read.All']] },
    });
  });
});

describe('@requiresRoles: app roles assigned to the user, AND-ed with the scopes', () => {
  it.each([
    [['Jobs.Read'], ['Approver'], undefined],
    [['Jobs.Read'], ['Auditor', 'Reviewer'], undefined],
    [['Jobs.Read'], ['Auditor'], 'missing_role'],
    [[], ['Approver'], 'insufficient_scope'],
  ])('a user with scopes %j and roles %j: %s', async (scopes, roles, reason) => {
    const { result } = await ask(user(scopes, roles), '{ approvals }');
    expect(reasonsOf(result)).toEqual(reason === undefined ? undefined : [reason]);
  });

  it('says which roles, and refuses app-only tokens even when their roles match', async () => {
    const { result } = await ask(user(['Jobs.Read'], ['Auditor']), '{ approvals }');
    expect(result.errors?.[0]).toMatchObject({
      message: 'This operation needs the app roles assigned to the user: Approver, or Auditor and Reviewer',
      extensions: { code: 'FORBIDDEN', reason: 'missing_role', roles: [['Approver'], ['Auditor', 'Reviewer']] },
    });
    expect(reasonsOf((await ask(app(['Approver']), '{ approvals }')).result)).toEqual(['app_tokens_not_accepted']);
  });
});

describe('a type-level directive', () => {
  it("applies to every field of the type, AND-ed with the field's own", async () => {
    const reader = await ask(user(['Vault.Read']), '{ vault { label audit } }');
    expect(reader).toMatchObject({ status: undefined, calls: ['vault'] });
    expect(reader.result).toEqual({
      data: { vault: { label: 'main', audit: null } },
      errors: [
        {
          message: 'The field Vault.audit needs one of the delegated scopes: Vault.Audit',
          locations: [{ line: 1, column: 17 }],
          path: ['vault', 'audit'],
          extensions: {
            code: 'FORBIDDEN',
            reason: 'insufficient_scope',
            scope: 'Vault.Audit',
            scopes: [['Vault.Audit']],
          },
        },
      ],
    });
    // The type's scope is missing: label (non-null) is refused, which nulls vault before audit is reached.
    const auditor = await ask(user(['Vault.Audit']), '{ vault { audit label } }');
    expect(auditor.result.errors?.map((error) => [error.path, error.extensions?.['scope']])).toEqual([
      [['vault', 'audit'], 'Vault.Read'],
      [['vault', 'label'], 'Vault.Read'],
    ]);
    expect(auditor.result.data).toEqual({ vault: null });
    expect((await ask(user(['Vault.Read', 'Vault.Audit']), '{ vault { label audit } }')).result).toEqual({
      data: { vault: { label: 'main', audit: 'clean' } },
    });
  });
});

describe('@policy', () => {
  it('reads the arguments: same_tenant admits the tenant of the token only', async () => {
    const own = await ask(user([]), `{ document(tenant: "${TENANT}") { id } }`);
    expect(own.result).toEqual({ data: { document: { id: `${TENANT}/1` } } });
    const other = await ask(user([]), '{ document(tenant: "other") { id } }');
    expect({ status: other.status, calls: other.calls }).toEqual({ status: 403, calls: [] });
    expect(other.result.errors?.[0]).toMatchObject({
      message: 'This operation is refused by the policies: same_tenant',
      extensions: { code: 'FORBIDDEN', reason: 'policy_refused', policies: [['same_tenant']] },
    });
  });

  it('reads arguments given as variables', async () => {
    const query = 'query ($t: String!) { document(tenant: $t) { id } }';
    expect((await ask(user([]), query, { variables: { t: TENANT } })).result.data).toEqual({
      document: { id: `${TENANT}/1` },
    });
    expect((await ask(user([]), query, { variables: { t: 'other' } })).status).toBe(403);
  });

  it('reads the parent: owner admits the owner of the document only', async () => {
    const query = `{ document(tenant: "${TENANT}") { id body } }`;
    expect((await ask(user([]), query)).result).toEqual({
      data: { document: { id: `${TENANT}/1`, body: `body of ${TENANT}/1` } },
    });
    const stranger = withPermissions({ ...principals.v2User, objectId: 'someone-else' }, { scopes: [] });
    const refused = await ask(stranger, query);
    expect(refused.calls).toEqual(['document']);
    expect(refused.result.data).toEqual({ document: { id: `${TENANT}/1`, body: null } });
    expect(reasonsOf(refused.result)).toEqual(['policy_refused']);
  });

  it('combines policies as OR of AND groups, and lets the only alternative refuse with its own error', async () => {
    const query = `{ sensitive(tenant: "${TENANT}") }`;
    expect((await ask(user([]), query)).result.data).toEqual({ sensitive: 'sensitive' });
    const guest = withPermissions(principals.guest, { scopes: [] });
    expect(reasonsOf((await ask(guest, query)).result)).toEqual(['policy_refused']);
    const glass = withPermissions(principals.guest, { scopes: [], roles: ['BreakGlass'] });
    expect((await ask(glass, query)).result.data).toEqual({ sensitive: 'sensitive' });
  });

  it('refuses with the policy’s own error when it is the only alternative', async () => {
    const authorization = compileAuthorization(bare, testPolicies);
    const requirement = authorization.requirements.get('Query')?.get('sensitive');
    expect(requirement?.policies).toEqual([[['member', 'same_tenant'], ['break_glass']]]);
    const alone = { ...requirement!, policies: [[['break_glass']]] };
    const verdict = await decide(alone, testPolicies, { principal: principals.guest }, {}, undefined);
    expect(verdict).toBeInstanceOf(GraphQLError);
    expect((verdict as GraphQLError).extensions).toEqual({ code: 'FORBIDDEN', reason: 'break_glass_denied' });
  });
});

describe('@requiresAuthContext: a step-up to a Conditional Access authentication context', () => {
  const stepUp = (acrs: string[], xmsCc: string[], scopes = ['Payroll.Read']) => ({
    ...user(scopes),
    authContexts: acrs,
    clientCapabilities: xmsCc,
  });
  const claims = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}';

  it('admits a sign-in that satisfied the context', async () => {
    expect((await ask(stepUp(['c2', 'c1'], []), '{ payroll }')).result).toEqual({ data: { payroll: 'payroll' } });
  });

  it('challenges a client that takes claims challenges (xms_cc cp1): 401 insufficient_claims, in both modes', async () => {
    for (const mode of ['filter', 'reject'] as const) {
      const { status, challenge, result, calls: run } = await ask(stepUp([], ['cp1']), '{ payroll }', { mode });
      expect({ status, run }).toEqual({ status: 401, run: [] });
      expect(challenge).toBe(
        `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="${Buffer.from(claims).toString('base64')}"`,
      );
      expect(result.errors).toEqual([
        {
          message:
            'This operation needs the authentication context c1: get a new access token with the claims in extensions.claims and retry',
          locations: [{ line: 1, column: 3 }],
          path: ['payroll'],
          extensions: {
            code: 'INSUFFICIENT_CLAIMS',
            reason: 'insufficient_claims',
            authContext: 'c1',
            claims,
            authorizationUri: 'https://login.microsoftonline.com/common/oauth2/authorize',
          },
        },
      ]);
    }
  });

  it('refuses a client that cannot take one: 403 auth_context_required', async () => {
    const { status, challenge, result } = await ask(stepUp(['c2'], []), '{ payroll }');
    expect({ status, challenge }).toEqual({ status: 403, challenge: 'Bearer error="insufficient_scope"' });
    expect(result.errors?.[0]).toMatchObject({
      message:
        'This operation needs the authentication context c1 (a step-up sign-in): this client does not take claims challenges (xms_cc cp1), so sign in with it before calling',
      extensions: { code: 'FORBIDDEN', reason: 'auth_context_required', authContext: 'c1' },
    });
  });

  it('asks for no step-up from a caller refused anyway, and keeps the challenge in extensions next to data', async () => {
    expect(reasonsOf((await ask(stepUp([], ['cp1'], []), '{ payroll }')).result)).toEqual(['insufficient_scope']);
    const partial = await ask(stepUp([], ['cp1']), '{ open payroll }');
    expect(partial.status).toBeUndefined();
    expect(partial.challenge).toBeUndefined();
    expect(partial.result.data).toEqual({ open: 'open', payroll: null });
    expect(partial.result.errors?.[0]?.extensions).toMatchObject({ code: 'INSUFFICIENT_CLAIMS', claims });
  });

  it('prints in the schema, and takes only context ids c1 to c99', () => {
    expect(printSchemaWithDirectives(bare)).toContain(
      'payroll: String @requiresScopes(scopes: [["Payroll.Read"]]) @requiresAuthContext(context: "c1")',
    );
    expect(() => RequiresAuthContext('c0')).toThrow('@requiresAuthContext: "c0" is not c1 to c99');
    expect(() => RequiresAuthContext('c1") @public #')).toThrow('is not c1 to c99');
  });
});

describe('deny by default', () => {
  it('refuses a field with no directive at any level to every caller, even one holding everything', async () => {
    const everything = user(['A', 'B', 'C', 'Jobs.Read', 'Vault.Read'], ['Approver']);
    const { result, calls: run } = await ask(everything, '{ forgotten }');
    expect(run).toEqual([]);
    expect(result.errors?.[0]).toMatchObject({ message: 'Not authorised', extensions: { reason: 'no_rule' } });
  });

  it('refuses to compile @public with any other requirement, or a policy that is not registered', () => {
    @ObjectType({ simpleResolvers: true })
    @Authenticated()
    class Mixed {
      @Field((_type) => String)
      @Public()
      note!: string;
    }
    @Resolver()
    class MixedResolver {
      @Query((_returns) => Mixed)
      @Public()
      mixed(): Mixed {
        return { note: '' };
      }
    }
    expect(() => compileAuthorization(buildBareSchema([MixedResolver]), {})).toThrow(
      'Mixed.note is @public and also demands a caller (on the field or its type): choose one',
    );
    expect(() => compileAuthorization(bare, {})).toThrow(
      'Query.document names @policy "same_tenant", which is not registered in src/authorization/policies.ts',
    );
  });

  it('refuses to declare an empty alternative or a name that cannot be a claim value', () => {
    expect(() => RequiresScopes()).toThrow('@requiresScopes needs at least one name in each of at least one group');
    expect(() => RequiresScopes([])).toThrow('@requiresScopes needs at least one name in each of at least one group');
    expect(() => RequiresRoles('Two words')).toThrow('@requiresRoles: "Two words" is not a permission name');
  });
});

describe('selections the client shapes: aliases, fragments, introspection', () => {
  it('decides every alias and fragment of a field alike', async () => {
    const query = `
      { a: vault { ...Parts } b: vault { ... on Vault { secret: audit } } }
      fragment Parts on Vault { label audit }`;
    const { result } = await ask(user(['Vault.Read']), query);
    expect(result.data).toEqual({ a: { label: 'main', audit: null }, b: { secret: null } });
    expect(result.errors?.map((error) => error.path)).toEqual([
      ['a', 'audit'],
      ['b', 'secret'],
    ]);
  });

  it('lets __typename and introspection through without opening any field', async () => {
    const { result, status } = await ask(null, '{ __typename scoped __type(name: "Vault") { name } }');
    expect(status).toBeUndefined();
    expect(result.data).toEqual({ __typename: 'Query', scoped: null, __type: { name: 'Vault' } });
    expect(reasonsOf(result)).toEqual(['missing_token']);
    const rejected = await ask(null, '{ __typename scoped }', { mode: 'reject' });
    expect({ status: rejected.status, data: rejected.result.data }).toEqual({ status: 401, data: undefined });
  });
});

describe('AUTHZ_MODE', () => {
  const mixed = '{ open scoped vault { label audit } }';

  it('filter: nulls each refused field with one error at its path; the rest answers with 200', async () => {
    const { status, result, calls: run } = await ask(user(['Vault.Read']), mixed);
    expect(status).toBeUndefined();
    expect(run).toEqual(['open', 'vault']);
    expect(result.data).toEqual({ open: 'open', scoped: null, vault: { label: 'main', audit: null } });
    expect(result.errors?.map((error) => [error.path, error.extensions?.['reason']])).toEqual([
      [['scoped'], 'insufficient_scope'],
      [['vault', 'audit'], 'insufficient_scope'],
    ]);
  });

  it('filter: a refused non-null field nulls its parent, as the GraphQL spec propagates nulls', async () => {
    const { result } = await ask(user(['Vault.Audit']), '{ open vault { label } }');
    // Vault.label is non-null: its refusal makes vault (nullable) null.
    expect(result).toEqual({
      data: { open: 'open', vault: null },
      errors: [expect.objectContaining({ path: ['vault', 'label'] })],
    });
  });

  it('reject: refuses the whole operation before any resolver runs, listing every refused field', async () => {
    const { status, challenge, result, calls: run } = await ask(user(['Vault.Read']), mixed, { mode: 'reject' });
    expect({ status, challenge, run }).toEqual({
      status: 403,
      challenge: 'Bearer error="insufficient_scope", scope="A B C Vault.Audit"',
      run: [],
    });
    expect(result).toEqual({
      errors: [
        {
          message: 'This operation needs the delegated scopes: A, or B and C',
          locations: [{ line: 1, column: 8 }],
          path: ['scoped'],
          extensions: { code: 'FORBIDDEN', reason: 'insufficient_scope', scope: 'A B C', scopes: [['A'], ['B', 'C']] },
        },
        {
          message: 'The field Vault.audit needs one of the delegated scopes: Vault.Audit',
          locations: [{ line: 1, column: 29 }],
          path: ['vault', 'audit'],
          extensions: {
            code: 'FORBIDDEN',
            reason: 'insufficient_scope',
            scope: 'Vault.Audit',
            scopes: [['Vault.Audit']],
          },
        },
      ],
    });
  });

  it('reject: runs an operation whose every field is allowed, and skips fields @skip removes', async () => {
    const allowed = await ask(user(['A', 'Vault.Read', 'Vault.Audit']), mixed, { mode: 'reject' });
    expect(allowed.result).toEqual({
      data: { open: 'open', scoped: 'scoped', vault: { label: 'main', audit: 'clean' } },
    });
    const skipped = await ask(user(['Vault.Read']), 'query ($no: Boolean!) { vault { label audit @skip(if: $no) } }', {
      mode: 'reject',
      variables: { no: true },
    });
    expect(skipped.result).toEqual({ data: { vault: { label: 'main' } } });
  });

  it('reject: decides the policies of root fields from their arguments before anything runs', async () => {
    const other = await ask(user([]), '{ open document(tenant: "other") { id } }', { mode: 'reject' });
    expect({ status: other.status, calls: other.calls, reasons: reasonsOf(other.result) }).toEqual({
      status: 403,
      calls: [],
      reasons: ['policy_refused'],
    });
  });

  it('reject: a nested policy, which reads its parent, is decided at its field', async () => {
    const stranger = withPermissions({ ...principals.v2User, objectId: 'someone-else' }, { scopes: [] });
    const { result, calls: run } = await ask(stranger, `{ document(tenant: "${TENANT}") { id body } }`, {
      mode: 'reject',
    });
    expect(run).toEqual(['document']);
    expect(result.data).toEqual({ document: { id: `${TENANT}/1`, body: null } });
  });

  describe.each(['filter', 'reject'] as const)('a mutation in %s mode', (mode) => {
    const mutation = 'mutation { startJob(name: "nightly") }';

    it('runs for a caller holding its scope or app permission', async () => {
      for (const caller of [user(['Jobs.Write']), app(['Jobs.Write.All'])]) {
        const { result, calls: run } = await ask(caller, mutation, { mode });
        expect({ result, run }).toEqual({ result: { data: { startJob: 'started nightly' } }, run: ['startJob'] });
      }
    });

    it('never runs for a caller without it: 403 and the challenge', async () => {
      const { status, challenge, result, calls: run } = await ask(user(['Jobs.Read']), mutation, { mode });
      expect({ status, challenge, run }).toEqual({
        status: 403,
        challenge: 'Bearer error="insufficient_scope", scope="Jobs.Write"',
        run: [],
      });
      expect(reasonsOf(result)).toEqual(['insufficient_scope']);
    });
  });
});
