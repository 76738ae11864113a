import 'reflect-metadata';
import { Query, Resolver, Subscription } from 'type-graphql';
import {
  Policy,
  RequiresAppPermissions,
  RequiresAuthContext,
  RequiresScopes,
} from '../../src/authorization/directives';
import { memberOfAnyGroup, policies } from '../../src/authorization/policies';
import { buildBareSchema, discoverResolvers } from '../../src/schema/build-schema';

/** A group of the test tenant, by object id (as the `groups` claim carries it). */
export const FINANCE_GROUP = '5c0ffee0-0b1d-4c3e-9a8f-7e6d5c4b3a21';

/** Operations of the kind the Entra features are for, served beside the product's own. */
@Resolver()
export class EntraProbeResolver {
  @Query((_returns) => String, { nullable: true })
  @RequiresScopes('access_as_user')
  @RequiresAuthContext('c1')
  payroll(): string {
    return 'payroll';
  }

  @Subscription((_returns) => String, {
    nullable: true,
    subscribe: () =>
      (async function* payslips() {
        yield 'payslip';
      })(),
  })
  @RequiresScopes('access_as_user')
  @RequiresAuthContext('c1')
  payslips(): string {
    return 'payslip';
  }

  @Query((_returns) => String, { nullable: true })
  @RequiresScopes('access_as_user')
  @RequiresAppPermissions('Hello.Read.All')
  @Policy('notAgent')
  signContract(): string {
    return 'signed';
  }

  @Query((_returns) => String, { nullable: true })
  @RequiresScopes('access_as_user')
  @Policy('finance')
  ledger(): string {
    return 'ledger';
  }
}

/** The product's schema with the probe's operations, and its policies with `finance` registered. */
export const probeServerOptions = () => ({
  bare: buildBareSchema([...discoverResolvers(), EntraProbeResolver]),
  policies: { ...policies, finance: memberOfAnyGroup(FINANCE_GROUP) },
});
