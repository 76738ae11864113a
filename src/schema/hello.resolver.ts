import { Ctx, Query, Resolver } from 'type-graphql';
import { RequiresAppPermissions, RequiresScopes } from '../authorization/directives';
import { unauthenticated } from '../graphql/errors';
import type { Context } from './context';
import { User } from './user.type';

/** The delegated scope a user's token needs for hello and greetings (the app registration's "Expose an API"). */
export const HELLO_SCOPE = 'access_as_user';
/** The app permission an app-only token needs for them (the app registration's "App roles", for applications). */
export const HELLO_APP_PERMISSION = 'Hello.Read.All';

@Resolver((_of) => User)
export class HelloResolver {
  @Query((_returns) => User, { description: 'The verified caller, greeted' })
  @RequiresScopes(HELLO_SCOPE)
  @RequiresAppPermissions(HELLO_APP_PERMISSION)
  hello(@Ctx() context: Context): User {
    // The directives already demand a caller; this guards a schema used without them.
    if (!context.principal) throw unauthenticated();
    return User.from(context.principal);
  }
}
