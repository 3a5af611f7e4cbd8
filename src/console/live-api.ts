/** `/api/live` (the gateways' events, for viewers allowed to watch) and ending a session. */
import { sessionStands } from './auth.js';
import { maySessions, sessionScope, type ApiCall, type ConsoleServices } from './context.js';
import { forbidden, notFound, readJsonObject, sendJson, stringField } from './http.js';
import { revokeGrant } from './approvals-api.js';
import { sessionRef } from './sessions-api.js';

/** How often a live page's viewer is judged again while the feed runs. */
export const liveRecheckMs = 30_000;

/**
 * `GET /api/live`: the gateways' events of the namespaces where the viewer may watch sessions. The
 * feed runs as long as the page stays, so it is judged again every `liveRecheckMs`: signed out, past the
 * session's 12 hours or no longer allowed to watch anywhere ends it; a namespace no longer allowed is
 * left out from then on.
 */
export async function liveEvents(services: ConsoleServices, call: ApiCall): Promise<void> {
  let visible = await sessionScope(services, call.viewer, 'watch');
  const { clock } = services;
  let timer: unknown;
  const judge = () => {
    timer = clock.setTimeout(() => {
      void (async () => {
        if (!sessionStands(call.session, clock.now())) throw new Error('signed out');
        visible = await sessionScope(services, call.viewer, 'watch');
        judge();
      })().catch(() => call.response.end());
    }, liveRecheckMs);
  };
  judge();
  call.response.once('close', () => clock.clearTimeout(timer));
  await services.gateways.relay(call.response, (namespace) => visible(namespace), (sessionId) => services.index.find(sessionId)?.summary.policy.namespace);
}

/**
 * `POST /api/sessions/ID/end {reason}`: ends the session at every gateway now, then revokes its grant
 * as the viewer (the bot's next kubectl with the same kubeconfig fails). Both rights are checked first
 * (delete sessions, patch the grant), so a viewer allowed only one of them changes nothing. The
 * gateways end it first because a revoked grant ends its sessions on its own, leaving nothing to count.
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
  const { grant, policy } = place;
  if (!(await maySessions(services, call.viewer, 'delete', policy.namespace))) {
    throw forbidden(`${call.viewer.user} may not delete sessions.kubegate.dev in namespace ${policy.namespace}`);
  }
  if (!(await services.reviews.check(call.viewer, { verb: 'patch', group: 'kubegate.dev', resource: 'accessgrants', namespace: grant.namespace, name: grant.name })).allowed) {
    throw forbidden(`${call.viewer.user} may not patch accessgrant ${grant.namespace}/${grant.name}, which ending the session revokes`);
  }
  const { ended, errors } = await services.gateways.endSession(id);
  await revokeGrant(services, call.viewer, grant.namespace, grant.name, `session ${id} ended: ${reason}`);
  sendJson(call.response, 200, { grant: { namespace: grant.namespace, name: grant.name }, ended, ...(errors.length > 0 ? { errors } : {}) });
}
