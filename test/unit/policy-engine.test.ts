/**
 * The policy engine decides from a CompiledPolicy exactly as the SessionPolicy contract says: first
 * matching rule wins, else defaultAction; empty lists match anything; commands, escalations and
 * collection-wide requests behave as documented; messages name the rule and the policy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy, validatePolicy, type PolicySpecInput } from '../../src/policy/compile.js';
import { detectEscalation } from '../../src/gateway/escalation.js';
import { PolicyEngine, type PolicyContext } from '../../src/gateway/policy-engine.js';
import { execCommand, parseRequestAttributes } from '../../src/gateway/request-attributes.js';

const ref = { namespace: 'kubegate-system', name: 'prod' };

/** The DESIGN.md sample policy. */
const designSample: PolicySpecInput = {
  approvers: { groups: ['sre-leads'] },
  rules: [
    { name: 'no-namespace-deletion', match: { verbs: ['delete', 'deletecollection'], resources: ['namespaces'] }, action: 'Deny' },
    { name: 'escalation-needs-a-human', match: { escalation: true }, action: 'RequireApproval' },
    { name: 'no-rm-rf', match: { subresources: ['exec'], command: 'rm\\s+-rf' }, action: 'Deny' },
  ],
  defaultAction: 'Allow',
  masking: { secrets: true, patterns: ['AKIA[0-9A-Z]{16}'] },
};

function engine(spec: PolicySpecInput): PolicyEngine {
  return PolicyEngine.load(compilePolicy(ref, spec));
}

function decide(e: PolicyEngine, method: string, url: string, body?: unknown) {
  const attributes = parseRequestAttributes(method, url);
  const context: PolicyContext = { user: 'deploy-bot', command: execCommand(attributes), escalation: detectEscalation(attributes, body) };
  return e.decide(attributes, context);
}

test('the design sample: rules in order, then the default action, with messages naming rule and policy', () => {
  const e = engine(designSample);
  assert.equal(e.version, compilePolicy(ref, designSample).version);
  assert.deepEqual(decide(e, 'DELETE', '/api/v1/namespaces/payments'), { action: 'Deny', rule: 'no-namespace-deletion', message: 'denied by rule "no-namespace-deletion" of policy kubegate-system/prod' });
  assert.equal(decide(e, 'DELETE', '/api/v1/namespaces').rule, 'no-namespace-deletion', 'deletecollection');
  const escalation = decide(e, 'POST', '/api/v1/namespaces/payments/pods', { spec: { hostNetwork: true, containers: [] } });
  assert.equal(escalation.action, 'RequireApproval');
  assert.equal(escalation.message, 'approval required by rule "escalation-needs-a-human" of policy kubegate-system/prod (escalation: pod requests hostNetwork)');
  assert.equal(decide(e, 'POST', '/api/v1/namespaces/payments/pods/web/exec?command=sh&command=-c&command=rm%20-rf%20/data').rule, 'no-rm-rf');
  assert.equal(decide(e, 'POST', '/api/v1/namespaces/payments/pods/web/exec?command=rm&command=-rf&command=/').rule, 'no-rm-rf', 'joined by spaces');
  assert.equal(decide(e, 'POST', '/api/v1/namespaces/payments/pods/web/exec?command=rm&command=-rf&command=/').byCommand, true, 'a command rule decided: the gateway answers KG_COMMAND_BLOCKED');
  assert.deepEqual(decide(e, 'POST', '/api/v1/namespaces/payments/pods/web/exec?command=ls'), { action: 'Allow', message: 'allowed by the default action of policy kubegate-system/prod' });
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/payments/pods').action, 'Allow');
});

test('first match wins, and a custom message is appended', () => {
  const e = engine({
    approvers: { users: ['alice'] },
    rules: [
      { name: 'dev-anything', match: { namespaces: ['dev'] }, action: 'Allow' },
      { name: 'no-secrets', match: { resources: ['secrets'] }, action: 'Deny', message: 'ask the platform team' },
    ],
    defaultAction: 'RequireApproval',
  });
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/dev/secrets/x').rule, 'dev-anything');
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/prod/secrets/x').message, 'denied by rule "no-secrets" of policy kubegate-system/prod: ask the platform team');
  assert.deepEqual(decide(e, 'GET', '/api/v1/namespaces/prod/configmaps/x'), { action: 'RequireApproval', message: 'approval required by the default action of policy kubegate-system/prod' });
});

test('each list narrows; * and empty lists match anything; verbs and resources compare normalised', () => {
  const e = engine({
    rules: [
      { name: 'apps-deploy-patch', match: { verbs: ['PATCH'], apiGroups: ['apps'], resources: ['Deployments'], names: ['web'] }, action: 'Deny' },
      { name: 'pods-exec-rbac-form', match: { resources: ['pods/exec'] }, action: 'Mask' },
      { name: 'status-only', match: { subresources: ['status'] }, action: 'Deny' },
      { name: 'everything', match: { verbs: ['*'], resources: ['*'] }, action: 'Allow' },
    ],
    defaultAction: 'Deny',
  });
  assert.equal(decide(e, 'PATCH', '/apis/apps/v1/namespaces/a/deployments/web').rule, 'apps-deploy-patch');
  assert.equal(decide(e, 'PATCH', '/apis/apps/v1/namespaces/a/deployments/api').rule, 'everything');
  assert.equal(decide(e, 'PATCH', '/apis/extensions/v1beta1/namespaces/a/deployments/web').rule, 'everything', 'other API group');
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/a/pods/p/exec?command=ls').rule, 'pods-exec-rbac-form');
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/a/pods/p').rule, 'everything');
  assert.equal(decide(e, 'PUT', '/api/v1/namespaces/a/pods/p/status').rule, 'status-only');
  assert.equal(decide(e, 'GET', '/version').rule, 'everything', 'a rule with only verbs matches non-resource requests');
});

test('rules that name groups, resources, namespaces or names never match non-resource requests', () => {
  const e = engine({ rules: [{ name: 'core-only', match: { apiGroups: [''] }, action: 'Deny' }], defaultAction: 'Allow' });
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/a/pods').rule, 'core-only');
  assert.equal(decide(e, 'GET', '/version').action, 'Allow');
  assert.equal(decide(e, 'GET', '/openapi/v2').action, 'Allow');
});

test('collection-wide requests: restrictive rules on names or namespaces catch them, Allow rules do not', () => {
  const e = engine({
    rules: [
      { name: 'keep-db-password', match: { resources: ['secrets'], names: ['db-password'] }, action: 'Deny' },
      { name: 'kube-system-is-read-only', match: { namespaces: ['kube-system'], verbs: ['list', 'watch', 'delete', 'deletecollection'] }, action: 'Deny' },
      { name: 'read-app-config', match: { resources: ['configmaps'], names: ['app-config'] }, action: 'Allow' },
    ],
    defaultAction: 'RequireApproval',
    approvers: { users: ['alice'] },
  });
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/a/secrets/db-password').rule, 'keep-db-password');
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/a/secrets').rule, 'keep-db-password', 'a list returns db-password too');
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/a/secrets?watch=1').rule, 'keep-db-password');
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/a/secrets?fieldSelector=metadata.name%3Dother').action, 'RequireApproval', 'a list narrowed to another name');
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/a/secrets/other').action, 'RequireApproval');
  assert.equal(decide(e, 'GET', '/api/v1/pods').rule, 'kube-system-is-read-only', 'all namespaces include kube-system');
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/payments/pods').action, 'RequireApproval');
  assert.equal(decide(e, 'DELETE', '/api/v1/namespaces/kube-system').rule, 'kube-system-is-read-only', 'the namespace object itself');
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/a/configmaps/app-config').rule, 'read-app-config');
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/a/configmaps').action, 'RequireApproval', 'Allow on one name does not allow the list');
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/a/configmaps?fieldSelector=metadata.name=app-config').rule, 'read-app-config');
});

test('escalation: true and false select on the detector\'s finding', () => {
  const e = engine({
    approvers: { users: ['alice'] },
    rules: [
      { name: 'escalations', match: { escalation: true, namespaces: ['prod'] }, action: 'RequireApproval' },
      { name: 'plain-writes-in-prod', match: { escalation: false, namespaces: ['prod'], verbs: ['create'] }, action: 'Allow' },
    ],
    defaultAction: 'Deny',
  });
  assert.equal(decide(e, 'POST', '/api/v1/namespaces/prod/pods', { spec: { hostPID: true } }).rule, 'escalations');
  assert.equal(decide(e, 'POST', '/api/v1/namespaces/prod/pods', { spec: { containers: [] } }).rule, 'plain-writes-in-prod');
  assert.equal(decide(e, 'POST', '/api/v1/namespaces/prod/pods/p/exec?command=id').rule, 'plain-writes-in-prod');
  assert.equal(decide(e, 'POST', '/api/v1/namespaces/kube-system/pods/p/exec?command=id').action, 'Deny');
});

test('command rules: exec commands at the request, stdin lines through matchesCommandLine', () => {
  const e = engine({
    rules: [
      { name: 'no-rm-rf', match: { subresources: ['exec', 'attach'], namespaces: ['prod'], command: 'rm\\s+-rf' }, action: 'Deny' },
      { name: 'no-curl', match: { command: '^curl ' }, action: 'Deny' },
    ],
    defaultAction: 'Allow',
  });
  const attach = parseRequestAttributes('GET', '/api/v1/namespaces/prod/pods/p/attach?stdin=true');
  assert.equal(e.decide(attach, { user: 'u' }).action, 'Allow', 'an attach has no command to judge at the request');
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/prod/pods/p').action, 'Allow', 'no command, no command-rule match');
  assert.equal(e.matchesCommandLine('sudo rm  -rf /', attach)?.rule, 'no-rm-rf');
  assert.equal(e.matchesCommandLine('curl http://x', attach)?.message, 'denied by rule "no-curl" of policy kubegate-system/prod');
  assert.equal(e.matchesCommandLine('ls -la', attach), undefined);
  const devAttach = parseRequestAttributes('GET', '/api/v1/namespaces/dev/pods/p/attach');
  assert.equal(e.matchesCommandLine('rm -rf /', devAttach), undefined, 'the rule is for prod');
  assert.equal(e.matchesCommandLine('rm -rf /')?.rule, 'no-rm-rf', 'without attributes only the command counts');
});

test('the policy loads once: regular expressions and the masker are compiled at load', () => {
  const e = engine(designSample);
  assert.equal(e.masking.maxMatchLength, 20);
  assert.equal(e.masking.maskText('key AKIAABCDEFGHIJKLMNOP end'), 'key ******************** end');
  assert.throws(() => engine({ masking: { patterns: ['password=\\S+'] } }), /unbounded repetition/);
  assert.throws(() => PolicyEngine.load({ ...compilePolicy(ref, {}), formatVersion: 2 as 1 }), /format 2 is not supported/);
});

test('the operator refuses, with the field, a policy whose masking the gateway could not load', () => {
  const problems = validatePolicy({ masking: { patterns: ['AKIA[0-9A-Z]{16}', 'password=\\S+', '(a)\\1'], fields: ['data.password', 'a[x]'] } });
  assert.deepEqual(problems.map((p) => p.field), ['spec.masking.patterns[1]', 'spec.masking.patterns[2]', 'spec.masking.fields[1]']);
  assert.match(problems[0]!.message, /unbounded repetition .* e\.g\. \{1,256\}/);
});

test("a leading RE2 (?i) is the case-insensitive flag in masking patterns and commands; other inline flags stay invalid", () => {
  const spec: PolicySpecInput = {
    rules: [{ name: 'no-rm-rf', match: { subresources: ['exec'], command: '(?i)RM\\s+-RF' }, action: 'Deny' }],
    masking: { secrets: true, patterns: ['(?i)password=\\S{1,128}'] },
  };
  assert.deepEqual(validatePolicy(spec), []);
  const e = engine(spec);
  assert.equal(e.masking.maxMatchLength, 9 + 2 * 128, 'the flag group is not counted as text');
  assert.equal(e.masking.maskText('PassWord=hunter2 next'), `${'*'.repeat(16)} next`);
  assert.equal(decide(e, 'POST', '/api/v1/namespaces/a/pods/p/exec?command=rm&command=-rf&command=/').rule, 'no-rm-rf');
  const problems = validatePolicy({ rules: [{ name: 'x', match: { command: 'a(?i)b' }, action: 'Deny' }], masking: { patterns: ['(?s)a.b', '(?i)\\S+'] } });
  assert.deepEqual(problems.map((p) => p.field), ['spec.rules[0].match.command', 'spec.masking.patterns[0]', 'spec.masking.patterns[1]']);
  assert.match(problems[2]!.message, /unbounded repetition/);
});

test('a Mask rule: its masker, compiled at load, masks what it matched even where the policy masks nothing', () => {
  const spec: PolicySpecInput = {
    rules: [
      { name: 'mask-prod-config', match: { resources: ['configmaps'], namespaces: ['prod'] }, action: 'Mask' },
      { name: 'mask-prod-logs', match: { resources: ['pods/log'], namespaces: ['prod'] }, action: 'Mask', masking: { patterns: ['token=\\w{1,64}'], fields: ['spec.note'] } },
    ],
    masking: { secrets: false },
  };
  const e = engine(spec);
  const config = decide(e, 'GET', '/api/v1/namespaces/prod/configmaps/app');
  assert.equal(config.action, 'Mask');
  assert.equal(config.masking, decide(e, 'GET', '/api/v1/namespaces/prod/configmaps').masking, 'one masker per rule, from the load');
  const configMap = { kind: 'ConfigMap', metadata: { name: 'app', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"pw":"x"}}' } }, data: { pw: 'hunter2' }, binaryData: { bin: 'AAEC' } };
  const masked = config.masking!.maskObject(configMap, { secrets: false });
  assert.deepEqual([masked.data.pw, masked.binaryData.bin, masked.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], masked.metadata.name], ['KioqKio=', 'KioqKio=', '*****', 'app']);
  assert.equal(e.masking.masksJson({ secrets: false }), false, 'the policy itself masks nothing');
  assert.equal(config.masking!.masksText, true);
  assert.equal(config.masking!.createStreamMasker().push(Buffer.from('secret\nline\n')).toString(), '******\n****\n', 'no patterns of its own: output masked whole');
  assert.equal(config.masking!.createInputMasker().push(Buffer.from('cat x\n')).toString(), 'cat x\n', 'stdin is recorded, not masked whole');
  const logs = decide(e, 'GET', '/api/v1/namespaces/prod/pods/web/log');
  const stream = logs.masking!.createStreamMasker();
  assert.equal(Buffer.concat([stream.push(Buffer.from('a token=abc b\n')), stream.flush()]).toString(), 'a ********* b\n', 'with patterns: only their matches');
  assert.equal(logs.masking!.maskObject({ spec: { note: 'n' } }, { secrets: false }).spec.note, '*****');
  assert.equal(decide(e, 'GET', '/api/v1/namespaces/dev/configmaps/app').masking, undefined, 'not matched: the policy masker');
  assert.deepEqual(validatePolicy({ rules: [{ name: 'a', match: {}, action: 'Allow', masking: { fields: ['data'] } }, { name: 'b', match: {}, action: 'Mask', masking: { patterns: ['x+'] } }] }).map((p) => p.field), ['spec.rules[0].masking', 'spec.rules[1].masking.patterns[0]']);
});

test('invariant 10: the proxy subresources are denied unless the deciding rule is an Allow that names proxy; a Mask rule denies a port-forward', () => {
  const open = engine({});
  for (const url of ['/api/v1/namespaces/a/pods/web/proxy/', '/api/v1/namespaces/a/services/web:80/proxy/x', '/api/v1/nodes/n1/proxy/exec/a/web/c?command=sh', '/api/v1/proxy/namespaces/a/pods/web/x']) {
    const decision = decide(open, 'GET', url);
    assert.equal(decision.action, 'Deny', url);
    assert.match(decision.message, /relays to the workload unchecked/);
  }
  assert.equal(decide(open, 'GET', '/api/v1/namespaces/a/pods/web/log').action, 'Allow', 'other subresources keep the default');
  const named = engine({
    approvers: { users: ['alice'] },
    rules: [
      { name: 'everything-in-dev', match: { namespaces: ['dev'] }, action: 'Allow' },
      { name: 'node-proxy-needs-a-human', match: { resources: ['nodes'], subresources: ['proxy'] }, action: 'RequireApproval' },
      { name: 'web-proxy', match: { subresources: ['proxy'], names: ['web'] }, action: 'Allow' },
      { name: 'svc-proxy', match: { resources: ['services/proxy'] }, action: 'Allow' },
      { name: 'mask-all', match: { resources: ['pods'] }, action: 'Mask' },
    ],
  });
  assert.deepEqual([decide(named, 'GET', '/api/v1/namespaces/dev/pods/web2/proxy/').action, decide(named, 'GET', '/api/v1/namespaces/dev/pods/web2/proxy/').rule], ['Deny', 'everything-in-dev'], 'a broad Allow does not name proxy');
  assert.equal(decide(named, 'GET', '/api/v1/nodes/n1/proxy/exec/a/p/c').action, 'RequireApproval');
  assert.equal(decide(named, 'GET', '/api/v1/namespaces/a/pods/web/proxy/').action, 'Allow');
  assert.equal(decide(named, 'GET', '/api/v1/namespaces/a/services/api/proxy/').action, 'Allow');
  assert.equal(decide(named, 'GET', '/api/v1/namespaces/a/pods/other/proxy/').action, 'Deny', 'a Mask rule cannot mask what it cannot read');
  const forward = decide(named, 'POST', '/api/v1/namespaces/a/pods/web/portforward?ports=80');
  assert.deepEqual([forward.action, forward.rule], ['Deny', 'mask-all'], 'nor a port-forward');
  assert.match(forward.message, /a port-forward carries bytes no masker can read/);
  assert.equal(decide(open, 'POST', '/api/v1/namespaces/a/pods/web/portforward?ports=80').action, 'Allow');
});
