import { Ctx, FieldResolver, Resolver } from 'type-graphql';
import { RequiresScopes } from '../authorization/directives';
import { DownstreamError } from '../downstream/errors';
import { downstreamFailure } from '../graphql/errors';
import type { Context } from './context';
import { Profile, PROFILE_PROPERTIES } from './profile.type';
import { HELLO_SCOPE } from './hello.resolver';
import { User } from './user.type';

@Resolver((_of) => User)
export class ProfileResolver {
  @FieldResolver((_returns) => Profile, {
    nullable: true,
    description:
      "The caller's Microsoft Graph profile, fetched on the caller's behalf (on-behalf-of flow): for users only; null " +
      'with an error when the server is not configured for it, or when Graph or Entra ID refuse',
  })
  // On-behalf-of acts for a signed-in user: an app-only token has no user to act for.
  @RequiresScopes(HELLO_SCOPE)
  async profile(@Ctx() context: Context): Promise<Profile> {
    try {
      if (!context.downstream) throw new DownstreamError('not_configured', null);
      return Profile.from(await context.downstream.graphMe(PROFILE_PROPERTIES));
    } catch (error) {
      if (error instanceof DownstreamError) throw downstreamFailure(error, context.requestId);
      throw error;
    }
  }
}
