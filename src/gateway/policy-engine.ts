/**
 * The gateway's policy decisions. A CompiledPolicy (the operator's serialized form, src/policy/compile.ts)
 * is turned once, at load, into matchers — sets for the lists, regular expressions for commands, the
 * masker — and every request is then decided without allocating a pattern: the first rule that matches
 * wins, otherwise the policy's defaultAction.
 *
 * Matching, per rule: an empty list matches anything; `resources` also accepts RBAC's `pods/exec` form;
 * a rule naming API groups, resources, subresources, namespaces or names only matches resource requests.
 * A request that spans objects it does not name — a list, watch or deletecollection without a name, or
 * across all namespaces — is matched by a Deny, RequireApproval or Mask rule restricted to certain names
 * or namespaces, because its response includes them (fail closed); an Allow rule so restricted does not
 * match it (that would grant more than it names). `command` is a regular expression searched in the exec
 * command joined by spaces; `escalation: true` matches when the escalation detector found something,
 * `false` when it found nothing.
 *
 * What runs in a container (`spec.commands`): under AllowList an exec command off the list is denied
 * whatever the rules say, and a stdin line must be on the list too. A line on stdin reaches the same
 * container whether it came through exec or attach (kubectl attach, run -it, debug), so for stdin a
 * rule naming either subresource covers both.
 *
 * A Mask rule forwards like Allow, and its decision carries the masker compiled for it at load (the
 * policy's masking plus the rule's, masker.ts `compileForRule`), which the gateway uses for everything
 * of that request: response, watch events, logs, exec/attach output, and the recording.
 *
 * The `proxy` subresource of pods, services and nodes (and the legacy `proxy` verb) relays bytes to a
 * workload or the kubelet (`nodes/proxy/exec/…` is an exec) that no command rule, stdin check or masker
 * can read, so such a request is denied unless the rule that decides it is an Allow rule that names
 * `proxy` (in subresources, or `pods/proxy` in resources): Allow by default or by a broad rule is not
 * enough. A Deny or RequireApproval rule still decides it as written. For the same reason a Mask rule
 * that matches a port-forward (a TCP tunnel) denies it.
 */
import { argvAllowed, splitCommandLine } from '../policy/command-allow-list.js';
import type { CompiledCommands, CompiledPolicy, CompiledRule, PolicyAction } from '../policy/compile.js';
import type { EscalationFinding } from './escalation.js';
import { Masker } from '../policy/masking/masker.js';
import { policyRegex } from '../policy/regex.js';
import type { RequestAttributes } from './request-attributes.js';
import type { StdinLine } from './stdin-lines.js';

/** What the gateway knows about a request besides its attributes. */
export interface PolicyContext {
  /** The grant's subject the request is made for (rules select requests; the grant chose the person). */
  user: string;
  /** The namespace of the grant. */
  namespace?: string;
  /** For exec: the `command` query parameters, in order. */
  command?: string[];
  escalation?: EscalationFinding;
}

export interface PolicyDecision {
  action: PolicyAction;
  /** The rule that matched; absent when the default action applied. */
  rule?: string;
  /** For people and the recording: `denied by rule "no-namespace-deletion" of policy kubegate-system/prod`. */
  message: string;
  /** Set when the deciding rule has a `command` pattern, which matched: a Deny then blocks that command. */
  byCommand?: true;
  /** A Mask decision: the rule's masker, used instead of the policy's for this request. */
  masking?: Masker;
}

interface Matcher {
  rule: CompiledRule;
  verbs?: Set<string>;
  apiGroups?: Set<string>;
  resources?: Set<string>;
  subresources?: Set<string>;
  namespaces?: Set<string>;
  names?: Set<string>;
  command?: RegExp;
  resourceOnly: boolean;
  /** Deny, RequireApproval, Mask: matches requests that may touch what it names (see above). */
  restrictive: boolean;
  /** An Allow rule that names the proxy subresource (see above). */
  allowsProxy: boolean;
  /** A Mask rule's masker. */
  masking?: Masker;
}

/** Why a stdin line may not run: the deciding rule (`(allow-list)` for the list) and a message for people. */
export interface LineRefusal {
  rule: string;
  message: string;
}

/** The rule name decisions of the allow-list carry. */
export const allowListRule = '(allow-list)';

const defaultCommands: CompiledCommands = { mode: 'Guardrails', allow: [], stdin: 'Checked' };

/** Verbs that reach every object of a collection, named or not. */
const collectionVerbs = new Set(['list', 'watch', 'deletecollection']);

const actionWords: Record<PolicyAction, string> = { Allow: 'allowed', Deny: 'denied', RequireApproval: 'approval required', Mask: 'masked' };

function set(values: string[]): Set<string> | undefined {
  return values.length === 0 ? undefined : new Set(values);
}

/** Core resources whose `proxy` subresource relays to a pod, service or node. */
const proxiedResources = ['pods', 'services', 'nodes'];

function isProxy(a: RequestAttributes): boolean {
  return a.isResourceRequest && a.apiGroup === '' && proxiedResources.includes(a.resource) && (a.subresource === 'proxy' || a.verb === 'proxy');
}

function compileRule(rule: CompiledRule, policyMasking: CompiledPolicy['masking']): Matcher {
  const lists = { apiGroups: set(rule.apiGroups), resources: set(rule.resources), subresources: set(rule.subresources), namespaces: set(rule.namespaces), names: set(rule.names) };
  return {
    rule,
    verbs: set(rule.verbs),
    ...lists,
    ...(rule.command !== undefined ? { command: policyRegex(rule.command) } : {}),
    resourceOnly: Object.values(lists).some((list) => list !== undefined),
    restrictive: rule.action !== 'Allow',
    allowsProxy: rule.action === 'Allow' && (rule.subresources.includes('proxy') || proxiedResources.some((resource) => rule.resources.includes(`${resource}/proxy`))),
    ...(rule.action === 'Mask' ? { masking: Masker.compileForRule(policyMasking, rule.masking ?? { fields: [], patterns: [] }) } : {}),
  };
}

/** A request as its stdin is judged: exec and attach reach the same container's stdin. */
function stdinAlike(attributes: RequestAttributes): RequestAttributes[] {
  const other = attributes.subresource === 'exec' ? 'attach' : attributes.subresource === 'attach' ? 'exec' : undefined;
  return other ? [attributes, { ...attributes, subresource: other }] : [attributes];
}

function matchesResource(m: Matcher, a: RequestAttributes): boolean {
  if (m.resourceOnly && !a.isResourceRequest) return false;
  if (m.apiGroups && !m.apiGroups.has(a.apiGroup)) return false;
  if (m.resources && !m.resources.has(a.resource) && !(a.subresource !== '' && m.resources.has(`${a.resource}/${a.subresource}`))) return false;
  if (m.subresources && !m.subresources.has(a.subresource)) return false;
  const spansCollection = collectionVerbs.has(a.verb);
  if (m.namespaces && !(a.namespace !== '' ? m.namespaces.has(a.namespace) : m.restrictive && spansCollection)) return false;
  if (m.names && !(a.name !== '' ? m.names.has(a.name) : m.restrictive && spansCollection)) return false;
  return true;
}

export class PolicyEngine {
  readonly version: string;
  readonly policy: { namespace: string; name: string };
  /** The policy's masking, compiled once with the rules. */
  readonly masking: Masker;
  private readonly matchers: Matcher[];
  private readonly defaultAction: PolicyAction;
  private readonly commands: CompiledCommands;
  /** Whether anything in the policy judges stdin lines (a command rule, or the allow-list). */
  readonly checksStdin: boolean;

  private constructor(compiled: CompiledPolicy) {
    this.version = compiled.version;
    this.policy = compiled.policy;
    this.defaultAction = compiled.defaultAction;
    this.matchers = compiled.rules.map((rule) => compileRule(rule, compiled.masking));
    this.masking = Masker.compile(compiled.masking);
    this.commands = compiled.commands ?? defaultCommands;
    this.checksStdin = this.commands.mode === 'AllowList' || this.matchers.some((m) => m.command !== undefined);
  }

  /** Compiles a policy; throws (and the gateway keeps its current version) if it cannot be enforced as written. */
  static load(compiled: CompiledPolicy): PolicyEngine {
    if (compiled.formatVersion !== 1) throw new Error(`compiled policy format ${String(compiled.formatVersion)} is not supported by this gateway`);
    return new PolicyEngine(compiled);
  }

  decide(attributes: RequestAttributes, context: PolicyContext): PolicyDecision {
    if (this.commands.mode === 'AllowList' && attributes.subresource === 'exec' && attributes.resource === 'pods' && !argvAllowed(context.command ?? [], this.commands.allow)) {
      return { action: 'Deny', rule: allowListRule, message: `denied by policy ${this.policyName()}: the command is not on its allow-list`, byCommand: true };
    }
    const line = context.command && context.command.length > 0 ? context.command.join(' ') : undefined;
    const matched = this.matchers.find((m) => this.matches(m, attributes, context, line));
    const unreadable = this.unreadable(attributes, matched);
    if (unreadable) return { action: 'Deny', ...(matched ? { rule: matched.rule.name } : {}), message: `denied by policy ${this.policyName()}: ${unreadable}` };
    if (matched) return this.decision(matched, context);
    return { action: this.defaultAction, message: `${actionWords[this.defaultAction]} by the default action of policy ${this.policyName()}` };
  }

  /**
   * For a line typed on an interactive stdin (attach, or a shell under exec): the first rule with a
   * `command` that matches the line — and, when given, the request's other attributes — or undefined.
   * Only command rules count here: the request itself was already decided when the session opened.
   */
  matchesCommandLine(line: string, attributes?: RequestAttributes, context?: PolicyContext): PolicyDecision | undefined {
    const alike = attributes && stdinAlike(attributes);
    for (const m of this.matchers) {
      if (!m.command || !m.command.test(line)) continue;
      if (alike && !alike.some((a) => matchesResource(m, a) && this.matchesEscalation(m, context) && (!m.verbs || m.verbs.has(a.verb)))) continue;
      return this.decision(m, context);
    }
    return undefined;
  }

  /**
   * Why a line that would run in the container through the stdin of this exec or attach may not run,
   * or undefined when it may: off the allow-list (or not a simple command, or uncertain) under
   * AllowList; uncertain under `stdin: Strict`; or a command rule other than Allow or Mask matches.
   */
  refusesStdinLine(line: StdinLine, attributes: RequestAttributes): LineRefusal | undefined {
    const uncertain = line.uncertain && `a line kubegate cannot rebuild with certainty (${line.uncertain})`;
    if (this.commands.mode === 'AllowList' && (uncertain || line.text.trim() !== '')) {
      const split = uncertain ? { refused: uncertain } : splitCommandLine(line.text);
      const reason = 'refused' in split ? split.refused : argvAllowed(split.argv, this.commands.allow) ? undefined : 'a command not on its allow-list';
      if (reason) return { rule: allowListRule, message: `denied by policy ${this.policyName()}: ${reason}` };
    }
    if (uncertain && this.commands.stdin === 'Strict') return { rule: '(stdin: Strict)', message: `denied by policy ${this.policyName()}: ${uncertain}` };
    const decision = this.matchesCommandLine(line.text, attributes);
    return decision && decision.action !== 'Allow' && decision.action !== 'Mask' ? { rule: decision.rule ?? '(default)', message: decision.message } : undefined;
  }

  /**
   * Why a request that would be forwarded carries bytes the gateway cannot check as its decision needs,
   * or undefined: a proxy subresource not named by an Allow rule, or a port-forward a Mask rule matched
   * (a TCP tunnel: nothing in it can be masked).
   */
  private unreadable(attributes: RequestAttributes, matched: Matcher | undefined): string | undefined {
    const action = matched?.rule.action ?? this.defaultAction;
    if (action === 'Deny' || action === 'RequireApproval') return undefined;
    if (isProxy(attributes) && matched?.allowsProxy !== true) {
      return `${attributes.resource}/proxy relays to the workload unchecked (no command rules, stdin checks or masking); only an Allow rule naming the proxy subresource allows it`;
    }
    if (action === 'Mask' && attributes.subresource === 'portforward') return `rule "${matched!.rule.name}" masks, and a port-forward carries bytes no masker can read`;
    return undefined;
  }

  private matches(m: Matcher, attributes: RequestAttributes, context: PolicyContext, line: string | undefined): boolean {
    if (m.verbs && !m.verbs.has(attributes.verb)) return false;
    if (!matchesResource(m, attributes)) return false;
    if (m.command && (line === undefined || !m.command.test(line))) return false;
    return this.matchesEscalation(m, context);
  }

  private matchesEscalation(m: Matcher, context: PolicyContext | undefined): boolean {
    if (m.rule.escalation === undefined) return true;
    return m.rule.escalation === (context?.escalation !== undefined);
  }

  private decision(m: Matcher, context: PolicyContext | undefined): PolicyDecision {
    const { rule } = m;
    let message = `${actionWords[rule.action]} by rule "${rule.name}" of policy ${this.policyName()}`;
    if (rule.message) message += `: ${rule.message}`;
    if (rule.escalation && context?.escalation) message += ` (escalation: ${context.escalation.reason})`;
    return { action: rule.action, rule: rule.name, message, ...(rule.command !== undefined ? { byCommand: true as const } : {}), ...(m.masking ? { masking: m.masking } : {}) };
  }

  private policyName(): string {
    return `${this.policy.namespace}/${this.policy.name}`;
  }
}
