import { Field, ObjectType } from 'type-graphql';
import { Authenticated } from '../authorization/directives';

/** The Microsoft Graph `user` properties Profile exposes: also the `$select` of the call, so Graph sends no more. */
export const PROFILE_PROPERTIES = [
  'displayName',
  'givenName',
  'surname',
  'jobTitle',
  'department',
  'officeLocation',
  'mail',
  'userPrincipalName',
] as const;

type ProfileProperty = (typeof PROFILE_PROPERTIES)[number];

@Authenticated()
@ObjectType({
  description: "The caller's profile in Microsoft Graph (GET /v1.0/me), fetched on the caller's behalf",
  simpleResolvers: true,
})
export class Profile implements Record<ProfileProperty, string | null> {
  @Field((_type) => String, { nullable: true })
  displayName!: string | null;

  @Field((_type) => String, { nullable: true })
  givenName!: string | null;

  @Field((_type) => String, { nullable: true })
  surname!: string | null;

  @Field((_type) => String, { nullable: true })
  jobTitle!: string | null;

  @Field((_type) => String, { nullable: true })
  department!: string | null;

  @Field((_type) => String, { nullable: true })
  officeLocation!: string | null;

  @Field((_type) => String, { nullable: true, description: 'Primary SMTP address; null when the user has no mailbox' })
  mail!: string | null;

  @Field((_type) => String, { nullable: true })
  userPrincipalName!: string | null;

  /** Graph's answer, keeping only the exposed properties (and only strings). */
  static from(me: Readonly<Record<string, unknown>>): Profile {
    const profile = new Profile();
    for (const property of PROFILE_PROPERTIES) {
      const value = me[property];
      profile[property] = typeof value === 'string' ? value : null;
    }
    return profile;
  }
}
