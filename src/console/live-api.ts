/** `/api/live` (the gateways' events, for viewers allowed to watch) and ending a session. */
import { maySessions, sessionScope, type ApiCall, type ConsoleServices } from './context.js';
import { forbidden, notFound, readJsonObject, sendJson, stringField } from './http.js';
import { revokeGrant } from './approvals-api.js';
import { sessionRef } from './sessions-api.js';

export async function liveEvents(services: ConsoleServices, call: ApiCall): Promise<void> {
  const visible = await sessionScope(services, call.viewer, 'watch');
  await services.gateways.relay(call.response, visible, (sessionId) => services.index.find(sessionId)?.summary.policy.namespace);
}

/**
 * `POST /api/sessions/ID/end {reason}`: revokes the session's grant as the viewer (the bot's next
 * kubectl with the same kubeconfig fails), then asks every gateway to end the session now.
 */
export async function endSession(services: ConsoleServices, call: ApiCall): Promise<void> {
  const id = sessionRef(call.params[0]!);
  const reason = stringField(await readJsonObject(call.request), 'reason', { required: true });
  let place = services.gateways.placeOf(id);
  if (!place) {
    await services.index.fresh();
    const summary = services.index.find(id)?.summary;
    if (summary) place = { grant: summary.grant, policy: summary.policy };
  }
  if (!place) throw notFound(`no session ${id} (neither live at a gateway nor recorded)`);
  if (!(await maySessions(services, call.viewer, 'delete', place.policy.namespace))) {
    throw forbidden(`${call.viewer.user} may not delete sessions.kubegate.dev in namespace ${place.policy.namespace}`);
  }
  await revokeGrant(services, call.viewer, place.grant.namespace, place.grant.name, `session ${id} ended: ${reason}`);
  const { ended, errors } = await services.gateways.endSession(id);
  sendJson(call.response, 200, { grant: { namespace: place.grant.namespace, name: place.grant.name }, ended, ...(errors.length > 0 ? { errors } : {}) });
}
