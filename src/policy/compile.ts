/**
 * A SessionPolicy compiled once, into the form the gateway loads: rules normalised (lower-case verbs,
 * `*` expanded to "any"), regular expressions checked, defaults applied, and a content version that the
 * gateway reports and the operator puts on the gateway's pod template (a new version rolls it).
 *
 * Validation collects every problem with its field path, so a policy author sees all of them at once in
 * the policy's status and Events; an invalid policy is never compiled and never replaces a good one.
 */
import { createHash } from 'node:crypto';
import type { PolicyAction, SessionPolicyIdentityProvider, SessionPolicySpec } from '../api/index.js';
import { argvPatternProblem } from './command-allow-list.js';
import { compileFieldPath, maxMatchLength } from './masking/masker.js';
import { policyRegex } from './regex.js';

export type { PolicyAction };

/** The fields of SessionPolicy.spec the compiler reads. */
export type PolicySpecInput = Pick<SessionPolicySpec, 'rules' | 'defaultAction' | 'commands' | 'masking' | 'recording' | 'approvers' | 'gitops' | 'gateway' | 'identityProviders'>;

export interface CompiledRule {
  name: string;
  action: PolicyAction;
  message?: string;
  /** Each list empty = matches anything. */
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  subresources: string[];
  namespaces: string[];
  names: string[];
  command?: string;
  escalation?: boolean;
  /** A Mask rule's own masking (masker.ts `compileForRule`). */
  masking?: { fields: string[]; patterns: string[] };
}

/** `spec.commands`: what may run in a container, and how strictly stdin is judged. */
export interface CompiledCommands {
  mode: 'Guardrails' | 'AllowList';
  allow: string[][];
  stdin: 'Checked' | 'Strict';
}

export interface CompiledPolicy {
  formatVersion: 1;
  version: string;
  policy: { namespace: string; name: string };
  rules: CompiledRule[];
  defaultAction: PolicyAction;
  /** Absent in policies compiled before it existed: Guardrails, Checked. */
  commands?: CompiledCommands;
  masking: { secrets: boolean; fields: string[]; patterns: string[] };
  recording: { stdin: boolean; maxBodyBytes: number; onStoreFailure: 'Spool' | 'FailClosed'; retention?: { mode: string; days: number } };
  approvers: { groups: string[]; users: string[]; minApprovals: number };
  gitops: { appliers: string[] };
  storage?: { url?: string; region?: string; endpoint?: string };
  /** `spec.identityProviders` as written (absent when the policy names none): whose ID tokens people bring. */
  identityProviders?: SessionPolicyIdentityProvider[];
}

export interface PolicyProblem {
  field: string;
  message: string;
}

const knownVerbs = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'impersonate', 'bind', 'escalate', 'approve', 'sign'];

/** Resources the API server serves: `group/resource` ('' for the core group). */
export type ResourceCatalog = Set<string>;

function regexProblem(pattern: string): string | undefined {
  try {
    policyRegex(pattern);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** What the gateway's masker would refuse at load (an unbounded pattern, a field path it cannot read). */
function maskingProblem(compile: () => unknown): string | undefined {
  try {
    compile();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

function lower(list: string[] | undefined): string[] {
  const values = (list ?? []).map((value) => value.toLowerCase());
  return values.includes('*') ? [] : values;
}

/** Problems of a `masking` block (the policy's or a Mask rule's): patterns and fields the gateway could not mask with. */
function maskingProblems(masking: { fields?: string[]; patterns?: string[] } | undefined, at: string, problems: PolicyProblem[]): void {
  (masking?.patterns ?? []).forEach((pattern, index) => {
    const problem = regexProblem(pattern);
    if (problem) problems.push({ field: `${at}.patterns[${index}]`, message: `bad regular expression: ${problem}` });
    else {
      const streamProblem = maskingProblem(() => maxMatchLength(pattern));
      if (streamProblem) problems.push({ field: `${at}.patterns[${index}]`, message: streamProblem });
    }
  });
  (masking?.fields ?? []).forEach((field, index) => {
    const problem = maskingProblem(() => compileFieldPath(field));
    if (problem) problems.push({ field: `${at}.fields[${index}]`, message: problem });
  });
}

export function validatePolicy(spec: PolicySpecInput, catalog?: ResourceCatalog): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  (spec.rules ?? []).forEach((rule, index) => {
    const at = `spec.rules[${index}]`;
    const match = rule.match ?? {};
    for (const verb of match.verbs ?? []) {
      if (verb !== '*' && !knownVerbs.includes(verb.toLowerCase())) problems.push({ field: `${at}.match.verbs`, message: `unknown verb "${verb}"` });
    }
    if (match.command !== undefined) {
      const problem = regexProblem(match.command);
      if (problem) problems.push({ field: `${at}.match.command`, message: `bad regular expression: ${problem}` });
      const subresources = lower(match.subresources);
      if (subresources.length > 0 && !subresources.some((s) => s === 'exec' || s === 'attach')) {
        problems.push({ field: `${at}.match.command`, message: 'a command rule can only match exec or attach requests' });
      }
    }
    if (catalog) {
      const groups = match.apiGroups && match.apiGroups.length > 0 && !match.apiGroups.includes('*') ? match.apiGroups : undefined;
      for (const resource of match.resources ?? []) {
        if (resource === '*') continue;
        const known = groups ? groups.some((group) => catalog.has(`${group}/${resource}`)) : [...catalog].some((entry) => entry.endsWith(`/${resource}`));
        if (!known) problems.push({ field: `${at}.match.resources`, message: `unknown resource "${resource}"${groups ? ` in API groups ${groups.join(', ')}` : ''}` });
      }
    }
    if (rule.action === 'Mask' && match.escalation) problems.push({ field: `${at}.action`, message: 'an escalation cannot be masked: use Deny or RequireApproval' });
    if (rule.masking && rule.action !== 'Mask') problems.push({ field: `${at}.masking`, message: 'only a Mask rule masks: set action Mask or remove masking' });
    maskingProblems(rule.masking, `${at}.masking`, problems);
  });
  (spec.commands?.allow ?? []).forEach((pattern, index) => {
    const problem = argvPatternProblem(pattern);
    if (problem) problems.push({ field: `spec.commands.allow[${index}]`, message: problem });
  });
  if (spec.commands?.mode === 'AllowList' && (spec.commands.allow ?? []).length === 0) {
    problems.push({ field: 'spec.commands.allow', message: 'AllowList with an empty list: no exec command and no stdin line could run (remove exec and attach from the grants instead)' });
  }
  maskingProblems(spec.masking, 'spec.masking', problems);
  const approvers = spec.approvers;
  const needsApprovers = (spec.rules ?? []).some((rule) => rule.action === 'RequireApproval') || spec.defaultAction === 'RequireApproval';
  if (needsApprovers && (approvers?.groups ?? []).length + (approvers?.users ?? []).length === 0) {
    problems.push({ field: 'spec.approvers', message: 'RequireApproval is used but no approver users or groups are named: nothing could ever be approved' });
  }
  return problems;
}

/** Compiles a valid policy; callers validate first. */
export function compilePolicy(policy: { namespace: string; name: string }, spec: PolicySpecInput): CompiledPolicy {
  const body: Omit<CompiledPolicy, 'version'> = {
    formatVersion: 1,
    policy,
    rules: (spec.rules ?? []).map((rule) => ({
      name: rule.name,
      action: rule.action,
      ...(rule.message ? { message: rule.message } : {}),
      verbs: lower(rule.match?.verbs),
      apiGroups: (rule.match?.apiGroups ?? []).includes('*') ? [] : (rule.match?.apiGroups ?? []),
      resources: lower(rule.match?.resources),
      subresources: lower(rule.match?.subresources),
      namespaces: rule.match?.namespaces ?? [],
      names: rule.match?.names ?? [],
      ...(rule.match?.command !== undefined ? { command: rule.match.command } : {}),
      ...(rule.match?.escalation !== undefined ? { escalation: rule.match.escalation } : {}),
      ...(rule.action === 'Mask' && rule.masking ? { masking: { fields: rule.masking.fields ?? [], patterns: rule.masking.patterns ?? [] } } : {}),
    })),
    defaultAction: spec.defaultAction ?? 'Allow',
    commands: { mode: spec.commands?.mode ?? 'Guardrails', allow: spec.commands?.allow ?? [], stdin: spec.commands?.stdin ?? 'Checked' },
    masking: { secrets: spec.masking?.secrets ?? true, fields: spec.masking?.fields ?? [], patterns: spec.masking?.patterns ?? [] },
    recording: {
      stdin: spec.recording?.stdin ?? true,
      maxBodyBytes: spec.recording?.maxBodyBytes ?? 1048576,
      onStoreFailure: spec.recording?.onStoreFailure ?? 'Spool',
      ...(spec.recording?.retention ? { retention: spec.recording.retention } : {}),
    },
    approvers: { groups: spec.approvers?.groups ?? [], users: spec.approvers?.users ?? [], minApprovals: spec.approvers?.minApprovals ?? 1 },
    gitops: { appliers: spec.gitops?.appliers ?? [] },
    ...(spec.gateway?.storage ? { storage: spec.gateway.storage } : {}),
    ...(spec.identityProviders?.length ? { identityProviders: spec.identityProviders } : {}),
  };
  const version = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 12);
  return { ...body, version };
}
