import { Ctx, Field, ID, ObjectType, Query, Resolver } from 'type-graphql';
import { unauthenticated } from '../../src/errors';
import type { Policy } from '../../src/schema/permissions';
import type { Context } from '../../src/schema/context';

/**
 * The worked example of docs/adding-an-operation.md: a second query with a permission of its own. In a real change
 * these would be src/schema/document.type.ts and src/schema/documents.resolver.ts; they live here so that the guide
 * is compiled and tested without adding the query to the product.
 */

// Who may list documents: users consented to the delegated scope Documents.Read, or daemons granted the app role
// Documents.Read.All. Both are defined in the API's app registration ("Expose an API" and "App roles").
export const DOCUMENTS_POLICY: Policy = {
  requiredScopes: ['Documents.Read'],
  requiredAppRoles: ['Documents.Read.All'],
};

@ObjectType({ description: 'A document the caller may read', simpleResolvers: true })
export class Document {
  @Field((_type) => ID)
  id!: string;

  @Field((_type) => String)
  title!: string;
}

@Resolver((_of) => Document)
export class DocumentsResolver {
  @Query((_returns) => [Document], { description: 'The documents of the caller’s tenant' })
  documents(@Ctx() { principal }: Context): Document[] {
    // The rule has already checked the caller; this guards a schema built without the rules.
    if (!principal) throw unauthenticated();
    return [{ id: `${principal.tenantId}/1`, title: 'Quarterly report' }];
  }
}
