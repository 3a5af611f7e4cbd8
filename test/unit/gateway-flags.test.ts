/**
 * The gateway's counts of bytes and milliseconds are checked before anything starts, whichever parts run:
 * a session idle time of 0 would have the session table sweep without pause.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildGateway } from '../../src/cli/gateway-build.js';
import type { GatewayFlags } from '../../src/cli/gateway.js';
import { CliError } from '../../src/cli/output.js';
import type { Recorder } from '../../src/recording/recorder.js';

const flags: GatewayFlags = { policy: 'kubegate-system/prod', listen: '127.0.0.1:0', adminListen: '127.0.0.1:0', tlsSan: [], segmentMaxBytes: 1024, segmentMaxAgeMs: 1000 };

test('a count flag that is not a positive whole number is refused by name before the gateway is built, with its recorder given or not', async () => {
  const given = { recorder: {} as Recorder };
  for (const [bad, message] of [
    [{ sessionIdleMs: 0 }, /--session-idle-ms must be a positive whole number, got 0/],
    [{ sessionIdleMs: 1.5 }, /--session-idle-ms must be a positive whole number, got 1.5/],
    [{ segmentMaxAgeMs: Number.NaN }, /--segment-max-age-ms must be a positive whole number, got NaN/],
    [{ checkpointIntervalMs: -1 }, /--checkpoint-interval-ms must be a positive whole number, got -1/],
  ] as const) {
    for (const overrides of [{}, given]) {
      await assert.rejects(buildGateway({ ...flags, ...bad }, overrides), (error: Error) => error instanceof CliError && message.test(error.message));
    }
  }
});
