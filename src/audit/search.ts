/**
 * `sessions search TEXT`: the lines of a session that match — an API call named the way a person types it
 * ("kubectl delete pod api-7" finds `delete pods default/api-7`), or the text anywhere in an exec command,
 * the kubectl command line, stdin, stdout or stderr. Candidate sessions come from the index; their events
 * are read streaming.
 */
import { commandLineMatches, describeApiCall, type RecordedAttributes } from './api-call.js';
import { StreamLines, type SessionEvent } from './reader.js';
import { bodyObjectName } from '../recording/object-index.js';

export interface SearchMatch {
  time: string;
  seq: number;
  /** The writer whose chain `seq` counts in, where the event names it (a session of several writers, a session-start). */
  writer?: string;
  /** Where the text was found: api, command (kubectl's command line), exec, stdin, stdout, stderr. */
  where: string;
  line: string;
}

export class SessionSearch {
  private readonly needle: string;
  private readonly words: string[];
  private readonly lines = new StreamLines();
  private clientCommand: string | undefined;

  constructor(query: string) {
    this.needle = query.trim().toLowerCase();
    this.words = this.needle.split(/\s+/).filter(Boolean);
    if (this.words.length === 0) throw new Error('give the text to search for');
  }

  private has(text: string): boolean {
    return text.toLowerCase().includes(this.needle);
  }

  /** The matches this event makes. */
  push(event: SessionEvent): SearchMatch[] {
    const at = { time: event.time, seq: event.seq, ...(event.writer === undefined ? {} : { writer: event.writer }) };
    switch (event.type) {
      case 'session-start':
        this.clientCommand = event.client.command;
        return event.client.command && this.has(event.client.command) ? [{ ...at, where: 'command', line: event.client.command }] : [];
      case 'request': {
        // a create names the object it makes in its body only: "kubectl create ns payments" finds it by that name
        const recorded = event.attributes as RecordedAttributes;
        const attributes = recorded.name || recorded.verb !== 'create' ? recorded : { ...recorded, name: bodyObjectName(event.body, event.bodyEncoding) ?? '' };
        const call = describeApiCall(attributes);
        const matches = commandLineMatches(this.words, attributes, this.clientCommand) || this.has(call) || this.has(`${event.method} ${event.path}`);
        return matches ? [{ ...at, where: 'api', line: `${call}${this.clientCommand ? ` (${this.clientCommand})` : ''}` }] : [];
      }
      case 'stream-open': {
        const command = event.command?.join(' ');
        return command && this.has(command) ? [{ ...at, where: 'exec', line: command }] : [];
      }
      case 'stream':
        if (event.port !== undefined || !['stdin', 'stdout', 'stderr'].includes(event.channel)) return [];
        return this.lines
          .push(event.requestId, event.channel, event.data)
          .filter((line) => this.has(line))
          .map((line) => ({ ...at, where: event.channel, line }));
      case 'stream-close':
        return this.lines
          .end(event.requestId)
          .filter(({ line }) => this.has(line))
          .map(({ channel, line }) => ({ ...at, where: channel, line }));
      default:
        return [];
    }
  }
}
