/**
 * The kubegate API (group kubegate.dev, version v1alpha1): the types generated from crds/*.yaml and the
 * names every part shares — resource plurals, the grant label and group, condition types and phases.
 * test/unit/api-types.test.ts checks these constants against the CRDs.
 */
import type { AccessGrantStatus, ApprovalRequestDecision, ApprovalRequestStatus, Condition, SessionPolicyRule, SessionPolicySpec, SessionPolicyStatus } from './types.generated.js';

export type * from './types.generated.js';
export * from './names.js';

export const group = 'kubegate.dev';
export const version = 'v1alpha1';
export const apiVersion = `${group}/${version}` as const;

/** The kinds of the API, and their resource names (`kubectl get accessgrants`, `/apis/kubegate.dev/v1alpha1/…/accessgrants`). */
export const plurals = {
  AccessGrant: 'accessgrants',
  ApprovalRequest: 'approvalrequests',
  SessionPolicy: 'sessionpolicies',
} as const;

export type Kind = keyof typeof plurals;

/** Condition types, per kind (status.conditions[].type). */
export const conditionTypes = {
  AccessGrant: {
    /** True while the grant is Active (its message counts the bindings in place); False with why it is not. */
    Ready: 'Ready',
    /** True once approved (by decisions or a merged pull request), False when denied. */
    Approved: 'Approved',
    /** False while the kubeconfig Secret's name belongs to something else (SecretNotOwned); True once written after that. */
    KubeconfigReady: 'KubeconfigReady',
  },
  ApprovalRequest: {
    /** True once approved or denied; False while pending or after expiring undecided. */
    Decided: 'Decided',
    /** Whether the policy's approvers' webhook took the message about it (only under a policy with approvers.notify). */
    Notified: 'Notified',
  },
  SessionPolicy: {
    /** True when the policy compiled and its gateway's objects are applied; False lists its problems. */
    Ready: 'Ready',
  },
} as const;

export type AccessGrantConditionType = (typeof conditionTypes.AccessGrant)[keyof typeof conditionTypes.AccessGrant];
export type ApprovalRequestConditionType = (typeof conditionTypes.ApprovalRequest)[keyof typeof conditionTypes.ApprovalRequest];
export type SessionPolicyConditionType = (typeof conditionTypes.SessionPolicy)[keyof typeof conditionTypes.SessionPolicy];
export type ConditionStatus = Condition['status'];

export type AccessGrantPhase = NonNullable<AccessGrantStatus['phase']>;
export type ApprovalRequestPhase = NonNullable<ApprovalRequestStatus['phase']>;
export type SessionPolicyPhase = NonNullable<SessionPolicyStatus['phase']>;
export type PolicyAction = SessionPolicyRule['action'];
export type DefaultAction = NonNullable<SessionPolicySpec['defaultAction']>;
export type DecisionValue = ApprovalRequestDecision['decision'];

/** Every phase of each kind, in lifecycle order (checked against the CRDs' enums by the unit tests). */
export const phases = {
  AccessGrant: ['Pending', 'Active', 'Expired', 'Revoked', 'Denied'],
  ApprovalRequest: ['Pending', 'Approved', 'Denied', 'Expired'],
  SessionPolicy: ['Ready', 'Invalid'],
} as const satisfies {
  AccessGrant: readonly AccessGrantPhase[];
  ApprovalRequest: readonly ApprovalRequestPhase[];
  SessionPolicy: readonly SessionPolicyPhase[];
};

/** Phases after which an AccessGrant never changes again. */
export const terminalGrantPhases: readonly AccessGrantPhase[] = ['Expired', 'Revoked', 'Denied'];
