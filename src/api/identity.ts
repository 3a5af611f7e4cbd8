/**
 * One identity mapping: how a person (or bot) becomes the strings that the API server and kubegate's
 * admission policies compare, written down once so that the same person is never two strings.
 *
 * A person appears under two names, on purpose:
 * - **authenticated name** — what the API server's authenticator says: `request.userInfo.username`, a
 *   SelfSubjectReview's `status.userInfo.username`, `system:serviceaccount:NS:NAME` for a ServiceAccount.
 *   It is used wherever a person acts on kubegate's objects or must be recognised there: an AccessGrant's
 *   `spec.requestedBy` (`authenticatedName`; admission checks it), an approver's `by` in an
 *   ApprovalRequest decision (`authenticatedName`, written by `kubegate approve`), the `requester` and
 *   `subject` of an ApprovalRequest (`grantApprovalParties`, for a grant and for a request held under
 *   it, built with `subjectUsername`), the policy's `approvers.users` and `gitops.appliers`.
 * - **impersonated identity** — what the gateway asks the API server to act as when it forwards the
 *   person's request: `impersonatedUser` (`kubegate:user:…`, `kubegate:group:…`,
 *   `kubegate:serviceaccount:NS:NAME`) plus the grant's group `grantGroup` (`kubegate:grant:NS:NAME`).
 *   The prefix keeps rights bound elsewhere to the bare name (a RoleBinding for user `deploy-bot`, for
 *   group `developers`) from ever applying through kubegate: the only rights such an identity has come
 *   from the grant's own bindings to its group (security invariant 4). RBAC compares these: the grant's
 *   RoleBindings name `grantGroup`, the gateway's impersonation Role lists `impersonatedUser` and
 *   `grantGroup` as resourceNames, and the gateway sends both as Impersonate-User / Impersonate-Group.
 *
 * The admission policies in config/admission/ compare the same strings in CEL; each mirrors a function:
 * - accessgrants.yaml, `kubegate-accessgrants`:
 *   `object.spec.?requestedBy.orValue('') == request.userInfo.username` — `authenticatedName`.
 * - approvalrequests.yaml, `kubegate-approval-decisions`:
 *   `variables.added.all(d, d.by == request.userInfo.username)` — `authenticatedName`;
 *   `variables.added.all(d, d.by != object.spec.requester && d.by != object.spec.?subject.orValue(''))`
 *   — `mayDecide` (which src/operator/approval.ts applies again when counting decisions).
 * - approvalrequests.yaml, `kubegate-approval-origin`: an ApprovalRequest for a held request is created
 *   only by `system:serviceaccount:NS:kubegate-gateway-POLICY`, the ServiceAccount the operator runs
 *   that policy's gateway as (`gatewayName`).
 * - approvalrequests.yaml, `kubegate-approval-deciders`, and accessgrants.yaml, `kubegate-accessgrants-gitops`:
 *   `request.userInfo.username in params.spec.?approvers.?users…` / `…gitops.?appliers…` — the policy
 *   lists authenticated names, compared as they are.
 */
import type { AccessGrantSpec, AccessGrantSubject } from './types.generated.js';

/** Whom a grant is for, as its spec names it. */
export type GrantSubject = AccessGrantSubject;

/** What the API server says about who is calling (`request.userInfo`, a SelfSubjectReview's `status.userInfo`). */
export interface AuthenticatedUser {
  username?: string;
  groups?: string[];
}

/** The prefix of every identity kubegate makes up (impersonated users and groups, grant groups). */
const prefix = 'kubegate:';

/**
 * The string by which a person is recognised on kubegate's objects: the API server's username, taken
 * as it is (no prefix, no case folding). Undefined when the API server gave none.
 */
export function authenticatedName(user: AuthenticatedUser | undefined): string | undefined {
  return user?.username || undefined;
}

/**
 * The authenticated name of a grant's subject: what the API server would call it if it came itself
 * (`system:serviceaccount:NS:NAME` for a ServiceAccount, the name otherwise). A Group subject is named
 * by the group's name, which no approver's username should equal.
 */
export function subjectUsername(subject: GrantSubject): string {
  return subject.kind === 'ServiceAccount' ? `system:serviceaccount:${subject.namespace}:${subject.name}` : subject.name;
}

/** The user the gateway impersonates for a grant's subject (prefixed: see above). */
export function impersonatedUser(subject: GrantSubject): string {
  switch (subject.kind) {
    case 'User':
      return `${prefix}user:${subject.name}`;
    case 'Group':
      return `${prefix}group:${subject.name}`;
    case 'ServiceAccount':
      return `${prefix}serviceaccount:${subject.namespace ?? ''}:${subject.name}`;
  }
}

/** The group a grant's bindings bind and the gateway impersonates for it: `kubegate:grant:<namespace>:<name>`. */
export function grantGroup(namespace: string, name: string): string {
  return `${prefix}grant:${namespace}:${name}`;
}

/** Who stands behind an ApprovalRequest: its `spec.requester` and `spec.subject`, neither of whom may decide it. */
export interface ApprovalParties {
  requester: string;
  subject?: string;
}

/**
 * The parties of an AccessGrant's approval, and of every request held at the gateway under that grant:
 * its creator asked (`spec.requestedBy`, the creator's authenticated name: admission requires it on
 * create, and it is immutable) for its subject. A held command is the grant's access in use, so the
 * person who asked for the grant is its requester, not only the subject it runs as.
 */
export function grantApprovalParties(spec: Pick<AccessGrantSpec, 'requestedBy' | 'subject'>): ApprovalParties & { subject: string } {
  return { requester: spec.requestedBy!, subject: subjectUsername(spec.subject) };
}


/** Whether a decision `by` this authenticated name may count: not by the requester, not by the subject. */
export function mayDecide(by: string, parties: ApprovalParties): boolean {
  return by !== parties.requester && by !== parties.subject;
}
