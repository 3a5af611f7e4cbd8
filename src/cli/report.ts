/**
 * `kubegate report --from --to [--subject --grant --namespace] -o html|json|csv|ocsf [--out FILE]`: the
 * compliance report of a time window (src/audit/report/), written to a file or stdout as it is read.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { ClusterGrantSource, type GrantSource } from '../audit/report/grant-source.js';
import { LedgerFirst, LedgerGrantSource } from '../audit/report/ledger-grant-source.js';
import type { RecordingStore } from '../recording/store.js';
import { CsvReport } from '../audit/report/csv.js';
import { HtmlReport } from '../audit/report/html.js';
import { JsonReport } from '../audit/report/json.js';
import { OcsfReport } from '../audit/report/ocsf.js';
import { writeReport, type ReportHead, type ReportWriter } from '../audit/report/report.js';
import { Sink } from '../audit/report/sink.js';
import type { SessionFilter } from '../audit/query.js';
import { kubeClients } from '../kube/client.js';
import { loadKubeconfig } from '../kube/load-kubeconfig.js';
import { packageRoot } from '../util/package-root.js';
import { withStore } from './sessions-common.js';

type ReportFormat = 'html' | 'json' | 'csv' | 'ocsf';

interface ReportFlags extends SessionFilter {
  store?: string;
  since?: string;
  from?: string;
  to?: string;
  output: ReportFormat;
  out?: string;
  kubeconfig?: string;
  requireLock?: boolean;
}

function kubegateVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** The access ledger in the store, and for grants it has no chain of, the cluster of `--kubeconfig`. */
function grantSource(store: RecordingStore, kubeconfig: string | undefined): GrantSource {
  const ledger = new LedgerGrantSource(store);
  if (!kubeconfig) return ledger;
  const config = loadKubeconfig(kubeconfig);
  return new LedgerFirst(ledger, new ClusterGrantSource(kubeClients(config), `the cluster at ${config.getCurrentCluster()?.server ?? 'its kubeconfig'}`));
}

function reportWriter(format: ReportFormat, out: Sink, head: ReportHead): ReportWriter {
  if (format === 'html') return new HtmlReport(out, head);
  if (format === 'json') return new JsonReport(out, head);
  if (format === 'csv') return new CsvReport(out);
  return new OcsfReport(out, kubegateVersion());
}

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description('the compliance report of a time window: grants, their approvals, sessions, their calls and verification')
    .option('--store <url>', 'the recording store: s3://BUCKET/PREFIX or file://DIR (default $KUBEGATE_STORE)')
    .option('--since <duration>', 'sessions that started within this long (e.g. 24h)')
    .option('--from <time>', 'sessions that started at or after this RFC 3339 time')
    .option('--to <time>', 'sessions that started at or before this RFC 3339 time (default now)')
    .option('--subject <name>', 'sessions of this subject (name or namespace/name)')
    .option('--grant <name>', 'sessions under this AccessGrant (name or namespace/name)')
    .option('--namespace <namespace>', 'sessions that made requests in this namespace')
    .addOption(new Option('-o, --output <format>', 'html (to read and print), json, csv (one row per call) or ocsf (OCSF 1.3.0 API Activity, JSON Lines)').choices(['html', 'json', 'csv', 'ocsf']).default('html'))
    .option('--out <file>', 'write the report to this file (default stdout)')
    .option('--kubeconfig <file>', "for a grant the store's access ledger has no chain of, read its requester, reason, approvals and active window from this cluster")
    .option('--require-lock', 'count a session whose objects hold no object lock as tampered, even on a store that cannot lock')
    .action((flags: ReportFlags) =>
      withStore({ ...flags, output: 'text' as const }, async (store, range) => {
        const out = new Sink(flags.out ? createWriteStream(flags.out) : process.stdout);
        const filter: SessionFilter = { ...(flags.subject ? { subject: flags.subject } : {}), ...(flags.grant ? { grant: flags.grant } : {}), ...(flags.namespace ? { namespace: flags.namespace } : {}) };
        const grants = grantSource(store, flags.kubeconfig);
        const head: ReportHead = { generatedAt: new Date().toISOString(), store: store.url, from: range.from.toISOString(), to: range.to.toISOString(), filter, grantSource: grants.name };
        const summary = await writeReport(store, { filter, range, grants, requireLock: flags.requireLock ?? false }, reportWriter(flags.output, out, head));
        if (flags.out) {
          await new Promise<void>((resolve, reject) => out.out.end((error?: Error | null) => (error ? reject(error) : resolve())));
          process.stderr.write(`wrote ${flags.out}: ${summary.grants} grant(s), ${summary.sessions} session(s) (${summary.tampered} tampered, ${summary.open} open)${summary.missing.length > 0 ? `, ${summary.missing.length} missing from the store` : ''}, ${summary.mutating} mutating call(s)\n`);
        }
      }),
    );
}
