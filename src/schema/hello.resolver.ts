import { Ctx, Query, Resolver } from 'type-graphql';
import { unauthenticated } from '../errors';
import type { Context } from './context';
import { User } from './user.type';

@Resolver((_of) => User)
export class HelloResolver {
  @Query((_returns) => User, { description: 'The verified caller, greeted' })
  hello(@Ctx() context: Context): User {
    // The permission rules already demand a caller; this guards a schema used without them.
    if (!context.principal) throw unauthenticated();
    return User.from(context.principal);
  }
}
