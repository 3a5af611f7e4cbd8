/**
 * `kubegate report` at 1,000 sessions: a `file://` store filled by the gateway's own recorder
 * (StoreRecorder; each session 20 API calls — reads, creates, patches, a delete, a denied one — and a
 * short exec, over the last 7 days, under 20 grants), then the report of the whole window in each format
 * written to a file, as `kubegate report` writes it (verify and read every session). Prints the time per
 * format, sessions/s, the output's size, and this process's peak resident memory; then a JSON summary.
 * No sandbox: the recordings need no cluster, the grant source is left out.
 *   npm run build && node_modules/.bin/node dist/bench/report.js [sessions=1000] [store-dir]
 * A store-dir that already holds the sessions is reused.
 */
import { createWriteStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/recording/open-store.js';
import { StoreRecorder } from '../src/recording/store-recorder.js';
import type { RecordEvent, SessionMetadata } from '../src/recording/format.js';
import type { RecordingStore } from '../src/recording/store.js';
import { writeReport, type ReportHead, type ReportWriter } from '../src/audit/report/report.js';
import { Sink } from '../src/audit/report/sink.js';
import { HtmlReport } from '../src/audit/report/html.js';
import { JsonReport } from '../src/audit/report/json.js';
import { CsvReport } from '../src/audit/report/csv.js';
import { OcsfReport } from '../src/audit/report/ocsf.js';

const sessionCount = Number(process.argv[2] ?? 1000);
const storeDir = process.argv[3] ?? mkdtempSync(join(tmpdir(), 'kubegate-bench-report-store-'));
const b64 = (text: string) => Buffer.from(text).toString('base64');
const verbs = ['get', 'list', 'get', 'create', 'get', 'patch', 'get', 'list', 'update', 'get'];

function events(i: number): RecordEvent[] {
  const namespace = `team-${i % 20}`;
  const attributes = (verb: string, name: string, subresource = '') => ({ isResourceRequest: true, verb, namespace, resource: 'configmaps', subresource, name, apiGroup: '', apiVersion: 'v1' });
  const out: RecordEvent[] = [];
  for (let n = 0; n < 20; n++) {
    const requestId = `r${n}`;
    const verb = n === 19 ? 'delete' : verbs[n % verbs.length]!;
    const denied = n === 19 && i % 5 === 0;
    out.push({ type: 'request', requestId, method: verb === 'get' || verb === 'list' ? 'GET' : 'POST', path: `/api/v1/namespaces/${namespace}/configmaps/cm-${n}`, attributes: attributes(verb, `cm-${n}`), ...(verb === 'get' || verb === 'list' ? {} : { contentType: 'application/json', body: JSON.stringify({ data: { n: String(n) } }), bodyBytes: 20 }) });
    out.push({ type: 'decision', requestId, action: denied ? 'Deny' : 'Allow', ...(denied ? { rule: 'no-deletes' } : {}), message: denied ? 'deletes are denied' : 'default action' });
    out.push({ type: 'response', requestId, status: denied ? 403 : 200, body: JSON.stringify({ kind: 'ConfigMap', metadata: { name: `cm-${n}` }, data: { pad: 'x'.repeat(400) } }), bodyBytes: 460, durationMs: 3 });
  }
  out.push({ type: 'request', requestId: 'exec', method: 'GET', path: '/exec', attributes: { ...attributes('create', 'shell', 'exec'), resource: 'pods' } });
  out.push({ type: 'decision', requestId: 'exec', action: 'Allow', message: 'default action' });
  out.push({ type: 'stream-open', requestId: 'exec', protocol: 'v5.channel.k8s.io', command: ['sh', '-c', `echo session ${i}`] });
  out.push({ type: 'stream', requestId: 'exec', direction: 'server-to-client', channel: 'stdout', data: b64(`session ${i}\n`) });
  out.push({ type: 'stream-close', requestId: 'exec', reason: 'exit 0' });
  return out;
}

async function fill(store: RecordingStore, started: number): Promise<void> {
  const spool = mkdtempSync(join(tmpdir(), 'kubegate-bench-report-spool-'));
  const recorder = new StoreRecorder({ store, spoolDir: spool, writerId: 'bench-gateway-0' });
  await recorder.start();
  const record = async (i: number) => {
    const metadata: SessionMetadata = {
      sessionId: randomUUID(),
      tokenId: 'bench',
      subject: { kind: 'User', name: `bot-${i % 20}` },
      grant: { namespace: 'kubegate-system', name: `grant-${i % 20}`, uid: `uid-${i % 20}` },
      policy: { namespace: 'kubegate-system', name: 'prod', version: '1' },
      client: { address: '10.0.0.7', userAgent: 'kubectl/v1.31.0', command: 'kubectl apply' },
      startedAt: new Date(started - ((i * 6 * 24 * 3_600_000) / sessionCount)).toISOString(),
    };
    const session = recorder.open(metadata);
    for (const event of events(i)) await session.record(event);
    await session.close('done');
  };
  for (let i = 0; i < sessionCount; i += 100) await Promise.all(Array.from({ length: Math.min(100, sessionCount - i) }, (_, j) => record(i + j)));
  await recorder.flush();
  await recorder.stop();
  rmSync(spool, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const store = openStore(`file://${storeDir}`);
  const now = Date.now();
  if (!existsSync(join(storeDir, 'index'))) {
    const t0 = performance.now();
    await fill(store, now);
    process.stderr.write(`recorded ${sessionCount} sessions in ${((performance.now() - t0) / 1000).toFixed(1)} s into ${storeDir}\n`);
  }
  const range = { from: new Date(now - 7 * 24 * 3_600_000), to: new Date(now + 60_000) };
  const head: ReportHead = { generatedAt: new Date().toISOString(), store: store.url, from: range.from.toISOString(), to: range.to.toISOString(), filter: {}, grantSource: null };
  const outDir = mkdtempSync(join(tmpdir(), 'kubegate-bench-report-out-'));
  const formats: Record<string, (out: Sink) => ReportWriter> = {
    html: (out) => new HtmlReport(out, head),
    json: (out) => new JsonReport(out, head),
    csv: (out) => new CsvReport(out),
    ocsf: (out) => new OcsfReport(out, 'bench'),
  };
  const results: Record<string, { ms: number; sessions: number; sessionsPerSecond: number; bytes: number }> = {};
  for (const [format, make] of Object.entries(formats)) {
    const file = join(outDir, `report.${format}`);
    const stream = createWriteStream(file);
    const t0 = performance.now();
    const summary = await writeReport(store, { filter: {}, range }, make(new Sink(stream)));
    await new Promise<void>((resolve) => stream.end(resolve));
    const ms = performance.now() - t0;
    results[format] = { ms: Math.round(ms), sessions: summary.sessions, sessionsPerSecond: Math.round(summary.sessions / (ms / 1000)), bytes: statSync(file).size };
    process.stdout.write(`${format.padEnd(5)} ${summary.sessions} sessions, ${summary.mutating} mutating calls, ${summary.tampered} tampered: ${(ms / 1000).toFixed(2)} s (${results[format]!.sessionsPerSecond} sessions/s), ${(results[format]!.bytes / 1e6).toFixed(1)} MB\n`);
  }
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  process.stdout.write(`peak resident memory of this process: ${peakRssMb} MB\n`);
  process.stdout.write(`${JSON.stringify({ sessions: sessionCount, results, peakRssMb })}\n`);
  rmSync(outDir, { recursive: true, force: true });
  store.close();
}

await main();
