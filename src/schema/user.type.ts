import { Field, ObjectType, registerEnumType } from 'type-graphql';
import { subjectKindOf, type Principal } from '../auth';
import { Authenticated } from '../authorization/directives';

export enum CallerKind {
  USER = 'user',
  APP = 'app',
  AGENT = 'agent',
  AGENT_USER = 'agent_user',
}
registerEnumType(CallerKind, {
  name: 'CallerKind',
  description:
    "A signed-in user (delegated token), an application (app-only token), or an Entra Agent ID agent: AGENT for an agent identity, AGENT_USER for an agent's user account",
});

export const GREETING = 'Hello World! You are authenticated.';

// Plain properties: type-graphql's per-field middleware wrapper would run on every selected field for nothing.
// Any verified caller may read a User: the operations that return one (hello, greetings) say who may call them.
@Authenticated()
@ObjectType({ description: 'The verified caller', simpleResolvers: true })
export class User {
  @Field((_type) => String, {
    description: 'Display name for users (mutable, never authorise on it); client id for apps',
  })
  username!: string;

  @Field((_type) => String, {
    nullable: true,
    description: 'Employee id, null when the tenant does not issue the claim',
  })
  employeeId!: string | null;

  @Field((_type) => [String], { description: 'Delegated scopes (user tokens only)' })
  scopes!: string[];

  @Field((_type) => [String], { description: 'App permissions (app tokens) or app-role assignments (user tokens)' })
  roles!: string[];

  @Field((_type) => String, { nullable: true })
  name!: string | null;

  @Field((_type) => String)
  tenantId!: string;

  @Field((_type) => String, {
    nullable: true,
    description: "Object id of the user, or of the app's service principal; null for app tokens that carry none",
  })
  objectId!: string | null;

  @Field((_type) => CallerKind)
  kind!: CallerKind;

  @Field((_type) => Boolean)
  isGuest!: boolean;

  @Field((_type) => String, { description: `Always "${GREETING}"` })
  message!: string;

  static from(principal: Principal): User {
    // Assigned one by one rather than copied from a literal: this runs on every hello.
    const user = new User();
    user.username = principal.username;
    user.employeeId = principal.employeeId;
    user.scopes = [...principal.scopes];
    user.roles = [...principal.roles];
    user.name = principal.name;
    user.tenantId = principal.tenantId;
    user.objectId = principal.objectId;
    user.kind = subjectKindOf(principal) as CallerKind;
    user.isGuest = principal.isGuest;
    user.message = GREETING;
    return user;
  }
}
