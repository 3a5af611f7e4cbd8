/**
 * Request attributes must be what kube-apiserver's RequestInfoFactory computes (the table mirrors its own
 * requestinfo_test.go), and every target two URL parsers could read two ways must be refused: the bypass
 * corpus below is what a caller would try to slip a request past a rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mayUpgrade, execCommand, maxRequestTargetLength, parseRequestAttributes } from '../../src/gateway/request-attributes.js';
import { GatewayError, gatewayErrors, type GatewayErrorCode } from '../../src/gateway/errors.js';

type Row = [method: string, url: string, verb: string, prefix: string, group: string, version: string, namespace: string, resource: string, subresource: string, name: string, parts: string[]];

// method, url, verb, apiPrefix, apiGroup, apiVersion, namespace, resource, subresource, name, parts
const resourceRows: Row[] = [
  ['GET', '/api/v1/namespaces', 'list', 'api', '', 'v1', '', 'namespaces', '', '', ['namespaces']],
  ['GET', '/api/v1/namespaces/other', 'get', 'api', '', 'v1', 'other', 'namespaces', '', 'other', ['namespaces', 'other']],
  ['GET', '/api/v1/namespaces/other/pods', 'list', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods/foo', 'get', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['HEAD', '/api/v1/namespaces/other/pods/foo', 'get', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['GET', '/api/v1/pods', 'list', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['HEAD', '/api/v1/pods', 'list', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['PATCH', '/api/v1/namespaces/new-namespace', 'patch', 'api', '', 'v1', 'new-namespace', 'namespaces', '', 'new-namespace', ['namespaces', 'new-namespace']],
  // special verbs
  ['GET', '/api/v1/proxy/namespaces/other/pods/foo', 'proxy', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['GET', '/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource', 'proxy', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo', 'subpath', 'not', 'a', 'subresource']],
  ['GET', '/api/v1/watch/pods', 'watch', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/pods?watch=true', 'watch', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/pods?watch=false', 'list', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/watch/namespaces/other/pods', 'watch', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods?watch=1', 'watch', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods?watch=0', 'list', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  // subresource identification
  ['GET', '/api/v1/namespaces/other/pods/foo/status', 'get', 'api', '', 'v1', 'other', 'pods', 'status', 'foo', ['pods', 'foo', 'status']],
  ['GET', '/api/v1/namespaces/other/pods/foo/proxy/subpath', 'get', 'api', '', 'v1', 'other', 'pods', 'proxy', 'foo', ['pods', 'foo', 'proxy', 'subpath']],
  ['PUT', '/api/v1/namespaces/other/finalize', 'update', 'api', '', 'v1', 'other', 'namespaces', 'finalize', 'other', ['namespaces', 'other', 'finalize']],
  ['PUT', '/api/v1/namespaces/other/status', 'update', 'api', '', 'v1', 'other', 'namespaces', 'status', 'other', ['namespaces', 'other', 'status']],
  // verb identification
  ['PATCH', '/api/v1/namespaces/other/pods/foo', 'patch', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['DELETE', '/api/v1/namespaces/other/pods/foo', 'delete', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['POST', '/api/v1/namespaces/other/pods', 'create', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  // deletecollection verb identification
  ['DELETE', '/api/v1/nodes', 'deletecollection', 'api', '', 'v1', '', 'nodes', '', '', ['nodes']],
  ['DELETE', '/api/v1/namespaces', 'deletecollection', 'api', '', 'v1', '', 'namespaces', '', '', ['namespaces']],
  ['DELETE', '/api/v1/namespaces/other/pods', 'deletecollection', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['DELETE', '/apis/extensions/v1/namespaces/other/pods', 'deletecollection', 'apis', 'extensions', 'v1', 'other', 'pods', '', '', ['pods']],
  // api group and version identification
  ['POST', '/apis/extensions/v1/namespaces/other/pods', 'create', 'apis', 'extensions', 'v1', 'other', 'pods', '', '', ['pods']],
  ['POST', '/apis/extensions/v1beta3/namespaces/other/pods', 'create', 'apis', 'extensions', 'v1beta3', 'other', 'pods', '', '', ['pods']],
  ['GET', '/apis/batch/v1/job/foo/scale', 'get', 'apis', 'batch', 'v1', '', 'job', 'scale', 'foo', ['job', 'foo', 'scale']],
  // streaming subresources are authorized as create, upgraded (GET) or not
  ['POST', '/api/v1/namespaces/other/pods/foo/exec?command=ls', 'create', 'api', '', 'v1', 'other', 'pods', 'exec', 'foo', ['pods', 'foo', 'exec']],
  ['GET', '/api/v1/namespaces/other/pods/foo/exec?command=ls', 'create', 'api', '', 'v1', 'other', 'pods', 'exec', 'foo', ['pods', 'foo', 'exec']],
  ['GET', '/api/v1/namespaces/other/pods/foo/attach?stdin=true', 'create', 'api', '', 'v1', 'other', 'pods', 'attach', 'foo', ['pods', 'foo', 'attach']],
  ['POST', '/api/v1/namespaces/other/pods/foo/portforward', 'create', 'api', '', 'v1', 'other', 'pods', 'portforward', 'foo', ['pods', 'foo', 'portforward']],
  ['GET', '/api/v1/namespaces/other/pods/foo/log', 'get', 'api', '', 'v1', 'other', 'pods', 'log', 'foo', ['pods', 'foo', 'log']],
  // field selector on metadata.name names the object (list/watch keep their verb)
  ['GET', '/apis/group/version/resource?fieldSelector=metadata.name=name1', 'list', 'apis', 'group', 'version', '', 'resource', '', 'name1', ['resource']],
  ['GET', '/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1', 'watch', 'apis', 'group', 'version', '', 'resource', '', 'name1', ['resource']],
  ['GET', '/apis/group/version/resource?fieldSelector=foo=bar', 'list', 'apis', 'group', 'version', '', 'resource', '', '', ['resource']],
  ['GET', '/apis/group/version/resource?fieldSelector=metadata.name=name1,foo', 'list', 'apis', 'group', 'version', '', 'resource', '', '', ['resource']],
  ['GET', '/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=false', 'list', 'apis', 'group', 'version', '', 'resource', '', '', ['resource']],
  ['GET', '/apis/group/version/resource?fieldSelector=metadata.name!=name1', 'list', 'apis', 'group', 'version', '', 'resource', '', '', ['resource']],
  ['GET', '/apis/group/version/resource?fieldSelector=spec.x%3Da%5C%2Cb,metadata.name%3D%3Dn2', 'list', 'apis', 'group', 'version', '', 'resource', '', 'n2', ['resource']],
  ['DELETE', '/api/v1/namespaces/other/pods?fieldSelector=metadata.name=foo', 'deletecollection', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
];

test('resource paths give the attributes the API server computes', () => {
  for (const [method, url, verb, apiPrefix, apiGroup, apiVersion, namespace, resource, subresource, name, parts] of resourceRows) {
    const a = parseRequestAttributes(method, url);
    assert.deepEqual(
      { isResourceRequest: a.isResourceRequest, verb: a.verb, apiPrefix: a.apiPrefix, apiGroup: a.apiGroup, apiVersion: a.apiVersion, namespace: a.namespace, resource: a.resource, subresource: a.subresource, name: a.name, parts: a.parts },
      { isResourceRequest: true, verb, apiPrefix, apiGroup, apiVersion, namespace, resource, subresource, name, parts },
      `${method} ${url}`,
    );
  }
});

test('non-resource paths keep the lower-case method as verb', () => {
  const rows: [string, string][] = [
    ['/', 'get'], ['/api', 'get'], ['/apis', 'get'], ['/version', 'get'], ['/healthz', 'get'], ['/openapi/v2', 'get'], ['/openapi/v3/apis/apps/v1', 'get'],
    ['/api/version/', 'get'], ['/apis/group/version/', 'get'], ['/badprefix/version/resource', 'get'], ['/apis/version/resource', 'get'],
    ['/apis/extensions/v1beta1', 'get'], ['/apis/extensions/v1beta1/', 'get'], ['/api/version', 'get'], ['/not-api/version/resource', 'get'],
  ];
  for (const [url, verb] of rows) {
    const a = parseRequestAttributes('GET', url);
    assert.equal(a.isResourceRequest, false, url);
    assert.equal(a.verb, verb, url);
    assert.deepEqual(a.parts, []);
  }
  assert.equal(parseRequestAttributes('POST', '/openapi/v2').verb, 'post');
  for (const url of ['/api/version/resource', '/apis/group/version/resource/name/subresource', '/api/version/resource/name/subresource', '/apis/batch/v1/job', '/apis/batch/v1/job/foo']) {
    assert.equal(parseRequestAttributes('GET', url).isResourceRequest, true, url);
  }
});

test('a trailing slash is accepted as the API server does; the path is decoded, never case-folded', () => {
  const a = parseRequestAttributes('GET', '/api/v1/namespaces/other/pods/');
  assert.deepEqual([a.verb, a.resource, a.namespace, a.path], ['list', 'pods', 'other', '/api/v1/namespaces/other/pods/']);
  const decoded = parseRequestAttributes('GET', '/api/v1/namespaces/%64efault/secrets/db%2Dpassword');
  assert.deepEqual([decoded.namespace, decoded.name, decoded.path], ['default', 'db-password', '/api/v1/namespaces/default/secrets/db-password']);
  for (const url of ['/API/v1/secrets', '/Api/v1/secrets']) assert.equal(parseRequestAttributes('GET', url).isResourceRequest, false, url);
  const upper = parseRequestAttributes('GET', '/api/v1/namespaces/Kube-System/Secrets');
  assert.deepEqual([upper.namespace, upper.resource], ['Kube-System', 'Secrets']);
  assert.equal(parseRequestAttributes('GET', '/api/v1/pods?Watch=true').verb, 'list', 'query keys are case-sensitive too');
});

test('?watch= is read like the API server: first value, only 0 and false (any case) mean no', () => {
  const verb = (query: string) => parseRequestAttributes('GET', `/api/v1/pods?${query}`).verb;
  assert.equal(verb('watch=FALSE'), 'list');
  assert.equal(verb('watch=True'), 'watch');
  assert.equal(verb('watch='), 'watch');
  assert.equal(verb('watch'), 'watch');
  assert.equal(verb('watch=yes'), 'watch');
  assert.equal(verb('watch=false&watch=true'), 'list');
  assert.equal(verb('watch=true&watch=false'), 'watch');
  assert.equal(verb('watch=f%61lse'), 'list');
  // Go's EqualFold folds U+017F (ſ) to s: "falſe" would be false there and watch to a naive reader
  assertRefused(() => parseRequestAttributes('GET', '/api/v1/pods?watch=fal%C5%BFe'), 'KG_BAD_QUERY_VALUE');
  assert.equal(parseRequestAttributes('GET', '/api/v1/namespaces/x/pods/foo?watch=true').verb, 'get', 'a named GET is a get');
});

test('exec keeps every command parameter, in order, decoded', () => {
  const args = Array.from({ length: 500 }, (_, i) => `arg ${i}&=%`);
  const url = `/api/v1/namespaces/p/pods/web/exec?${args.map((arg) => `command=${encodeURIComponent(arg)}`).join('&')}&stdout=true`;
  const a = parseRequestAttributes('POST', url);
  assert.deepEqual(execCommand(a), args);
  assert.deepEqual(execCommand(parseRequestAttributes('POST', '/api/v1/namespaces/p/pods/web/exec?command=sh&command=-c&command=rm+-rf+%2F')), ['sh', '-c', 'rm -rf /']);
  assert.deepEqual(execCommand(parseRequestAttributes('GET', '/api/v1/namespaces/p/pods/web/attach?command=ls')), []);
  assert.equal(Object.getPrototypeOf(a.query), null, 'no inherited keys such as __proto__ or constructor');
});

function assertRefused(fn: () => unknown, code: GatewayErrorCode): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof GatewayError, String(error));
    assert.equal(error.code, code, error.message);
    assert.equal(error.status, gatewayErrors[code].status);
    assert.equal(error.reason, gatewayErrors[code].reason);
    return true;
  });
}

test('the bypass corpus is refused with a typed error', () => {
  const corpus: [string, string, GatewayErrorCode][] = [
    ['GET', '/api/v1/namespaces/kube-system/secrets%2Ftoken', 'KG_ENCODED_SLASH'],
    ['GET', '/api/v1/namespaces/kube-system%2fsecrets', 'KG_ENCODED_SLASH'],
    ['GET', '/api/v1/namespaces/a/pods/%2e%2e/secrets', 'KG_ENCODED_DOT'],
    ['GET', '/api/v1/namespaces/a/pods/%2E', 'KG_ENCODED_DOT'],
    ['GET', '/api/v1/namespaces/a/pods/x%2e', 'KG_ENCODED_DOT'],
    ['GET', '/api/v1/namespaces/a/pods/%252F..%252Fsecrets', 'KG_ENCODED_PERCENT'],
    ['GET', '/api/v1/namespaces/a/pods/../../namespaces/kube-system/secrets', 'KG_DOT_SEGMENT'],
    ['GET', '/api/v1/namespaces/a/./secrets', 'KG_DOT_SEGMENT'],
    ['GET', '/api/v1//namespaces/a/secrets', 'KG_EMPTY_SEGMENT'],
    ['GET', '//api/v1/secrets', 'KG_EMPTY_SEGMENT'],
    ['GET', '/api/v1/secrets//', 'KG_EMPTY_SEGMENT'],
    ['GET', '/api/v1/namespaces\\kube-system/secrets', 'KG_FORBIDDEN_CHARACTER'],
    ['GET', '/api/v1/namespaces/a/secrets/x%5Cy', 'KG_FORBIDDEN_CHARACTER'],
    ['GET', '/api/v1/namespaces/a/secrets/x%00', 'KG_FORBIDDEN_CHARACTER'],
    ['GET', '/api/v1/namespaces/a/secrets/x%0a', 'KG_FORBIDDEN_CHARACTER'],
    ['GET', '/api/v1/namespaces/a/secrets/x\u0000', 'KG_FORBIDDEN_CHARACTER'],
    ['GET', '/api/v1/namespaces/a/secrets/x y', 'KG_FORBIDDEN_CHARACTER'],
    ['GET', '/api/v1/namespaces/a/secrets/é', 'KG_FORBIDDEN_CHARACTER'],
    ['GET', '/api/v1/namespaces/a/secrets#frag', 'KG_FORBIDDEN_CHARACTER'],
    ['GET', '/api/v1/namespaces/a/secrets/%C3', 'KG_NOT_UTF8'],
    ['GET', '/api/v1/namespaces/a/secrets/%FF%FE', 'KG_NOT_UTF8'],
    ['GET', '/api/v1/namespaces/a/secrets/%zz', 'KG_BAD_ESCAPE'],
    ['GET', '/api/v1/namespaces/a/secrets/%4', 'KG_BAD_ESCAPE'],
    ['GET', '/api/v1/pods?watch=false;watch=true', 'KG_QUERY_SEMICOLON'],
    ['GET', '/api/v1/pods?watch=%G0', 'KG_BAD_ESCAPE'],
    ['GET', '/api/v1/watch', 'KG_NO_RESOURCE'],
    ['GET', '/api/v1/proxy/', 'KG_NO_RESOURCE'],
    ['GET', 'http://evil/api/v1/secrets', 'KG_NOT_ORIGIN_FORM'],
    ['GET', '*', 'KG_NOT_ORIGIN_FORM'],
    ['OPTIONS', '/api/v1/secrets', 'KG_METHOD_NOT_ALLOWED'],
    ['get', '/api/v1/secrets', 'KG_METHOD_NOT_ALLOWED'],
    ['CONNECT', '/api/v1/secrets', 'KG_METHOD_NOT_ALLOWED'],
    ['GET', `/api/v1/namespaces/a/configmaps/${'x'.repeat(maxRequestTargetLength)}`, 'KG_TARGET_TOO_LONG'],
    ['POST', `/api/v1/namespaces/a/pods/p/exec?${'command=a&'.repeat(maxRequestTargetLength / 10)}`, 'KG_TARGET_TOO_LONG'],
  ];
  for (const [method, url, code] of corpus) assertRefused(() => parseRequestAttributes(method, url), code);
});

test('what remains legal is read exactly: plus signs, encoded characters in names, long but bounded paths', () => {
  const plus = parseRequestAttributes('GET', '/api/v1/namespaces/a/configmaps/a+b?labelSelector=x+in+(a)');
  assert.equal(plus.name, 'a+b', 'a plus in a path is a plus');
  assert.deepEqual(plus.query['labelSelector'], ['x in (a)'], 'a plus in a query is a space');
  const long = parseRequestAttributes('GET', `/api/v1/namespaces/a/configmaps/${'x'.repeat(60_000)}`);
  assert.equal(long.name.length, 60_000);
  const proxy = parseRequestAttributes('GET', '/api/v1/namespaces/a/services/web/proxy/some%20path/x');
  assert.deepEqual([proxy.resource, proxy.subresource, proxy.parts.slice(3)], ['services', 'proxy', ['some path', 'x']]);
});

test('only exec, attach, portforward of a pod and the proxy subresources may take the upgrade path', () => {
  const may = (path: string, method = 'GET') => mayUpgrade(parseRequestAttributes(method, path));
  for (const sub of ['exec', 'attach', 'portforward']) assert.equal(may(`/api/v1/namespaces/a/pods/p/${sub}`), true, sub);
  assert.equal(may('/api/v1/namespaces/a/pods/p/proxy/x'), true);
  assert.equal(may('/api/v1/namespaces/a/services/s:80/proxy/'), true);
  assert.equal(may('/api/v1/nodes/n/proxy/exec/a/p/c'), true);
  assert.equal(may('/api/v1/proxy/namespaces/a/pods/p/x'), true, 'the legacy proxy verb');
  for (const path of ['/api/v1/namespaces/a/secrets/s', '/api/v1/namespaces/a/secrets?watch=1', '/api/v1/namespaces/a/pods/p/log', '/api/v1/namespaces/a/pods/p', '/apis/example.com/v1/namespaces/a/pods/p/exec', '/api/v1/namespaces/a/configmaps/c/proxy', '/version']) {
    assert.equal(may(path), false, path);
  }
});
