/**
 * The identity the gateway impersonates for a grant's subject. It is prefixed (`kubegate:user:…`,
 * `kubegate:group:…`, `kubegate:serviceaccount:NS:NAME`) so that rights bound elsewhere to the bare
 * name — a RoleBinding for user `deploy-bot`, for group `developers` — never apply through kubegate:
 * the only rights such an identity has come from the grant's own binding to its grant group
 * (security invariant 4).
 */
export interface GrantSubject {
  kind: 'User' | 'Group' | 'ServiceAccount';
  name: string;
  namespace?: string;
}

export const impersonationPrefix = 'kubegate:';

export function impersonatedUser(subject: GrantSubject): string {
  switch (subject.kind) {
    case 'User':
      return `${impersonationPrefix}user:${subject.name}`;
    case 'Group':
      return `${impersonationPrefix}group:${subject.name}`;
    case 'ServiceAccount':
      return `${impersonationPrefix}serviceaccount:${subject.namespace ?? ''}:${subject.name}`;
  }
}
