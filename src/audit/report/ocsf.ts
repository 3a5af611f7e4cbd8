/**
 * `-o ocsf`: OCSF API Activity events (class 6003, category 6 Application Activity) at OCSF 1.3.0, one JSON
 * object a line, one event per reported call, for a SIEM. The mapping is README's table ("Export the
 * report"); every event validates against schemas/ocsf/api_activity-1.3.0.schema.json, generated from
 * OCSF's own 1.3.0 schema (test/integration/report.test.ts checks each one with ajv).
 */
import { isIP } from 'node:net';
import type { ReportCall, SessionReport } from './session-report.js';
import type { ReportWriter } from './report.js';
import type { Sink } from './sink.js';
import { defined } from '../../util/defined.js';

export const ocsfVersion = '1.3.0';

/** OCSF's activity for a Kubernetes verb: Create 1, Read 2, Update 3, Delete 4, Other 99. */
export function activityId(verb: string): 1 | 2 | 3 | 4 | 99 {
  if (verb === 'create') return 1;
  if (verb === 'get' || verb === 'list' || verb === 'watch') return 2;
  if (verb === 'update' || verb === 'patch') return 3;
  if (verb === 'delete' || verb === 'deletecollection') return 4;
  return 99;
}

const activityNames = { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete', 99: 'Other' } as const;

/** Success 1 (allowed and a status below 400), Failure 2 (denied, or 400 and up), Unknown 0 (no response recorded). */
function status(call: ReportCall): { status_id: 0 | 1 | 2; status: string } {
  if (call.decision === 'Deny' || (call.status !== undefined && call.status >= 400)) return { status_id: 2, status: 'Failure' };
  return call.status === undefined ? { status_id: 0, status: 'Unknown' } : { status_id: 1, status: 'Success' };
}

/** Informational 1; Medium 3 for what a policy held back or flagged (denied, approval-gated, escalation); High 4 in a tampered session. */
function severity(call: ReportCall, report: SessionReport): { severity_id: 1 | 3 | 4; severity: string } {
  if (report.verification.status === 'tampered') return { severity_id: 4, severity: 'High' };
  if (call.kinds.some((kind) => kind !== 'mutating' && kind !== 'exec')) return { severity_id: 3, severity: 'Medium' };
  return { severity_id: 1, severity: 'Informational' };
}

function user(subject: SessionReport['subject']): object {
  const name = subject.kind === 'ServiceAccount' ? `system:serviceaccount:${subject.namespace}:${subject.name}` : subject.name;
  return { name, type: subject.kind };
}

function srcEndpoint(client: SessionReport['client']): object {
  const address = client.address ?? '';
  return isIP(address) ? { ip: address } : { name: address || 'unknown' };
}

function resources(call: ReportCall): object[] {
  if (!call.resource || !call.name) return [];
  const type = call.subresource ? `${call.resource}/${call.subresource}` : call.resource;
  return [{ name: call.name, type, ...(call.namespace ? { namespace: call.namespace } : {}), ...(call.apiGroup ? { group: { name: call.apiGroup } } : {}) }];
}

export function ocsfEvent(call: ReportCall, report: SessionReport, productVersion: string): object {
  const activity = activityId(call.verb);
  const listed = resources(call);
  return {
    class_uid: 6003,
    class_name: 'API Activity',
    category_uid: 6,
    category_name: 'Application Activity',
    activity_id: activity,
    activity_name: activityNames[activity],
    type_uid: 600300 + activity,
    type_name: `API Activity: ${activityNames[activity]}`,
    time: Date.parse(call.time),
    ...severity(call, report),
    ...status(call),
    ...(call.status === undefined ? {} : { status_code: String(call.status) }),
    ...(call.message ? { status_detail: call.message } : {}),
    message: call.command ? `${call.call}: ${call.command.join(' ')}` : call.call,
    actor: { user: user(report.subject), session: { uid: report.sessionId } },
    api: { operation: call.verb, request: { uid: call.requestId }, service: { name: 'kubernetes' }, ...(call.apiVersion ? { version: call.apiVersion } : {}), ...(call.apiGroup ? { group: { name: call.apiGroup } } : {}) },
    src_endpoint: srcEndpoint(report.client),
    ...(listed.length > 0 ? { resources: listed } : {}),
    http_request: { http_method: call.method, url: { path: call.path }, ...(report.client.userAgent ? { user_agent: report.client.userAgent } : {}) },
    metadata: { version: ocsfVersion, product: { name: 'kubegate', vendor_name: 'kubegate', version: productVersion }, uid: `${report.sessionId}/${call.requestId}`, correlation_uid: report.sessionId, log_name: 'kubegate-sessions' },
    unmapped: {
      kubegate: {
        session: { id: report.sessionId, verification: report.verification.status, problems: report.verification.problems, objectLock: report.verification.lock },
        grant: report.grant,
        policy: report.policy,
        kinds: call.kinds,
        ...(call.approvers ? { approvers: call.approvers } : {}),
        ...defined({ decision: call.decision, rule: call.rule, approval: call.approval, escalation: call.escalation, command: call.command?.join(' '), writer: call.writer }),
      },
    },
  };
}

export class OcsfReport implements ReportWriter {
  constructor(
    private readonly out: Sink,
    private readonly productVersion: string,
  ) {}

  async grant(): Promise<void> {}

  async session(report: SessionReport): Promise<void> {
    for (const call of report.calls) await this.out.write(`${JSON.stringify(ocsfEvent(call, report, this.productVersion))}\n`);
  }

  async end(): Promise<void> {}
}
