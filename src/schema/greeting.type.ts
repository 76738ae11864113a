import { GraphQLDateTimeISO } from 'graphql-scalars';
import { Field, Int, ObjectType } from 'type-graphql';
import type { Principal } from '../auth';
import { Authenticated } from '../authorization/directives';
import { GREETING, User } from './user.type';

@Authenticated()
@ObjectType({ description: 'One greeting of the greetings subscription', simpleResolvers: true })
export class Greeting {
  @Field((_type) => String, { description: `Always "${GREETING}"` })
  message!: string;

  @Field((_type) => User, { description: 'The verified caller of the socket' })
  user!: User;

  @Field((_type) => GraphQLDateTimeISO)
  sentAt!: Date;

  @Field((_type) => Int, {
    description: "Seconds until the caller's token expires; the socket is closed then (after the clock skew)",
  })
  tokenExpiresInSeconds!: number;

  static of(principal: Principal, now: Date): Greeting {
    return Object.assign(new Greeting(), {
      message: GREETING,
      user: User.from(principal),
      sentAt: now,
      tokenExpiresInSeconds: Math.max(0, principal.expiresAt - Math.floor(now.getTime() / 1000)),
    });
  }
}
