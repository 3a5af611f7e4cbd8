/**
 * People who bring an ID token from one of the policy's identity providers (`spec.identityProviders`):
 * the token names a username and groups derived as the cluster derives them (token/id-token.ts); the
 * person is let through under an Active AccessGrant of this policy whose subject is that User or one
 * of those Groups. Several may qualify: the caller picks one (the `Kubegate-Grant` header, or the
 * `/kubegate/grants/NAME` server path a `kubegate login --grant` kubeconfig writes), else the first by
 * name whose access covers the request (an RBAC SubjectAccessReview for the grant's impersonated identity,
 * the check the API server will make), else the first. The recording names the grant chosen and the
 * person as its subject.
 *
 * Who the API server sees: under a User grant `kubegate:user:<username>`, the person themselves; under a
 * Group grant the grant's own `kubegate:group:<group>`, since the gateway's impersonation rights name
 * users one by one and a group's members are not known in advance. Either way with the grant's group,
 * and the person is the subject of what they hold for approval, so they cannot approve it themselves.
 */
import { createHash } from 'node:crypto';
import type { AccessGrant } from '../api/index.js';
import { grantGroup, impersonatedUser, type GrantSubject } from '../api/identity.js';
import type { HumanIdentity } from '../token/id-token.js';
import type { RawKubeClient } from '../kube/raw-client.js';
import { createSubjectAccessReview } from '../kube/reviews.js';
import { grantStanding, type CallerIdentity } from './auth.js';
import { GatewayError } from './errors.js';
import { parseRequestAttributes, type RequestAttributes } from './request-attributes.js';

/** Whether the identity a grant would be impersonated as may do the request at hand. */
export type AccessCheck = (user: string, groups: string[]) => Promise<boolean>;

export interface HumanGrantOptions {
  /** The grants of the policy's namespace, as the informer sees them now. */
  grants: AccessGrant[];
  policy: { namespace: string; name: string };
  /** The grant the caller asked for by name, if any. */
  chosen?: string;
  covers: AccessCheck;
  now: Date;
}

function servesPerson(grant: AccessGrant, human: HumanIdentity): boolean {
  const { subject } = grant.spec;
  return (subject.kind === 'User' && subject.name === human.username) || (subject.kind === 'Group' && human.groups.includes(subject.name));
}

/** The Active grants of this policy that let `human` in, by name. */
export function grantsFor(human: HumanIdentity, options: Omit<HumanGrantOptions, 'covers' | 'chosen'>): Array<{ grant: AccessGrant; expiresAt: number }> {
  const usable: Array<{ grant: AccessGrant; expiresAt: number }> = [];
  for (const grant of options.grants) {
    const { namespace, name, uid } = grant.metadata ?? {};
    if (namespace !== options.policy.namespace || grant.spec.policyRef.name !== options.policy.name || !servesPerson(grant, human)) continue;
    const standing = grantStanding(grant, { namespace, name: name!, uid: uid! }, options.now.getTime());
    if (standing.active) usable.push({ grant, expiresAt: standing.expiresAt });
  }
  return usable.sort((a, b) => (a.grant.metadata!.name! < b.grant.metadata!.name! ? -1 : 1));
}

/** The caller identity of `human` presenting `token`, under the grant chosen as described above. */
export async function humanCaller(human: HumanIdentity, token: string, options: HumanGrantOptions): Promise<CallerIdentity> {
  const usable = grantsFor(human, options);
  const who = `${human.username}${human.groups.length ? ` (groups ${human.groups.join(', ')})` : ''}`;
  if (usable.length === 0) throw new GatewayError('KG_NO_GRANT', `no Active AccessGrant of policy ${options.policy.namespace}/${options.policy.name} names ${who}`);
  let picked = usable[0]!;
  if (options.chosen !== undefined) {
    const named = usable.find(({ grant }) => grant.metadata!.name === options.chosen);
    if (!named) throw new GatewayError('KG_NO_GRANT', `AccessGrant ${options.policy.namespace}/${options.chosen} is not an Active grant of policy ${options.policy.name} for ${who}`);
    picked = named;
  } else if (usable.length > 1) {
    for (const candidate of usable) {
      if (await options.covers(impersonatedUser(candidate.grant.spec.subject), [grantGroup(options.policy.namespace, candidate.grant.metadata!.name!)])) {
        picked = candidate;
        break;
      }
    }
  }
  const { grant, expiresAt } = picked;
  const person: GrantSubject = { kind: 'User', name: human.username };
  return {
    // one token may serve several grants: each its own session (sessions.ts keys by token id)
    tokenId: `id-token:${createHash('sha256').update(token).digest('hex').slice(0, 32)}:${grant.metadata!.name}`,
    grant: { namespace: options.policy.namespace, name: grant.metadata!.name!, uid: grant.metadata!.uid! },
    subject: person,
    requestedBy: grant.spec.requestedBy,
    user: impersonatedUser(grant.spec.subject),
    groups: [grantGroup(options.policy.namespace, grant.metadata!.name!)],
    // the ID token is checked as each request starts, as the API server checks it; what runs on (an exec,
    // a watch) is bounded by the grant, not by a token that lives minutes and is refreshed meanwhile
    expiresAt: new Date(expiresAt),
  };
}

/**
 * The API server's own answer to whether `user` in `groups` may make this request: a SubjectAccessReview
 * the gateway sends as itself (its ServiceAccount may create them). A request the gateway cannot parse
 * covers nothing; the parse refuses it a moment later anyway.
 */
export function rbacAccessCheck(api: RawKubeClient, method: string, target: string): AccessCheck {
  return async (user, groups) => {
    let attributes: RequestAttributes;
    try {
      attributes = parseRequestAttributes(method, target);
    } catch {
      return false;
    }
    const { verb, apiGroup, apiVersion, namespace, resource, subresource, name, path } = attributes;
    const review = await createSubjectAccessReview(api, {
      user,
      groups,
      ...(attributes.isResourceRequest
        ? { resourceAttributes: { verb, group: apiGroup, version: apiVersion, namespace, resource, subresource, name } }
        : { nonResourceAttributes: { verb, path } }),
    });
    return review.status?.allowed === true;
  };
}
