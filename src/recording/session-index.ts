/**
 * The SessionIndex a writer's events add up to: what search answers from without opening the session.
 * Sets only grow, so adding an event twice (a segment seen again during crash recovery) changes nothing;
 * lists are capped so an index object stays small whatever the session did.
 */
import { chainHeader, indexKey, sessionPrefix, type ChainMetadata, type RecordEvent, type SessionIndex } from './format.js';

const maxEntries = 500;
const maxCommandLength = 1000;

export class IndexBuilder {
  private readonly sets = { namespaces: new Set<string>(), verbs: new Set<string>(), resources: new Set<string>(), decisions: new Set<string>(), commands: new Set<string>() };
  segments = 0;
  events = 0;
  endedAt: string | null = null;

  /** `version`: the chain's format version, which its index is written in. */
  constructor(
    readonly metadata: ChainMetadata,
    readonly version: number,
  ) {
    if (metadata.client.command) this.add('commands', metadata.client.command);
  }

  static from(saved: SessionIndex, metadata: ChainMetadata, version: number): IndexBuilder {
    const builder = new IndexBuilder(metadata, version);
    for (const field of ['namespaces', 'verbs', 'resources', 'decisions', 'commands'] as const) for (const value of saved[field] ?? []) builder.add(field, value);
    builder.segments = saved.segments;
    builder.events = saved.events;
    builder.endedAt = saved.endedAt;
    return builder;
  }

  private add(field: keyof IndexBuilder['sets'], value: string): void {
    const set = this.sets[field];
    if (value === '' || set.size >= maxEntries) return;
    set.add(value.length > maxCommandLength ? `${value.slice(0, maxCommandLength)}…` : value);
  }

  /** Adds what one event says about the session (the envelope's `time` ends it on `session-end`). */
  observe(event: RecordEvent | { type: 'session-start' }, time: string): void {
    switch (event.type) {
      case 'request': {
        const attributes = event.attributes as { namespace?: string; verb?: string; resource?: string; subresource?: string; isResourceRequest?: boolean };
        if (attributes.namespace) this.add('namespaces', attributes.namespace);
        if (attributes.verb) this.add('verbs', attributes.verb);
        if (attributes.resource) {
          this.add('resources', attributes.resource);
          if (attributes.subresource) this.add('resources', `${attributes.resource}/${attributes.subresource}`);
        }
        break;
      }
      case 'decision':
        this.add('decisions', event.action);
        break;
      case 'stream-open':
        if (event.command && event.command.length > 0) this.add('commands', event.command.join(' '));
        break;
      case 'session-end':
        this.endedAt = time;
        break;
      default:
        break;
    }
  }

  key(): string {
    return indexKey(this.metadata);
  }

  toJSON(): SessionIndex {
    const { metadata } = this;
    return {
      ...chainHeader(metadata, this.version),
      prefix: sessionPrefix(metadata),
      subject: metadata.subject,
      grant: metadata.grant,
      policy: metadata.policy,
      client: metadata.client,
      startedAt: metadata.startedAt,
      endedAt: this.endedAt,
      segments: this.segments,
      events: this.events,
      namespaces: [...this.sets.namespaces].sort(),
      verbs: [...this.sets.verbs].sort(),
      resources: [...this.sets.resources].sort(),
      decisions: [...this.sets.decisions].sort(),
      commands: [...this.sets.commands],
    };
  }
}
