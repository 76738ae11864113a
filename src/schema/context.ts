import type { Principal } from '../auth';

/** Per-request context: the verified caller, or null for an anonymous request. */
export interface Context {
  readonly principal: Principal | null;
  /** Absent when an operation is executed without HTTP (executeOperation in tests). */
  readonly requestId?: string;
  readonly clientAddress?: string;
}
