import type { Principal } from '../auth';
import type { Downstream } from '../downstream';

/** Per-request context: the verified caller, or null for an anonymous request. */
export interface Context {
  readonly principal: Principal | null;
  /** Absent when an operation is executed without HTTP (executeOperation in tests). */
  readonly requestId?: string;
  readonly clientAddress?: string;
  /** Calls to other APIs as the caller (on-behalf-of); absent for anonymous requests and in bare schema tests. */
  readonly downstream?: Downstream;
}
