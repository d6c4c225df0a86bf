/** A Server-Sent Events reader for tests: node:http, parsed per the EventSource rules we rely on. */
import { request, type IncomingMessage } from 'node:http';

export interface SseEvent {
  /** 'comment' for `: ...` lines (keep-alives). */
  event: string;
  id?: string;
  data: string;
}

export interface SseStream {
  status: number;
  headers: IncomingMessage['headers'];
  /** The body when the reply is not an event stream (an error). */
  body(): Promise<string>;
  events(): AsyncGenerator<SseEvent, void, undefined>;
  close(): void;
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      res.setEncoding('utf8');
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        async body() {
          let text = '';
          for await (const chunk of res) text += chunk as string;
          return text;
        },
        async *events() {
          let buffer = '';
          for await (const chunk of res) {
            buffer += chunk as string;
            for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const event: SseEvent = { event: 'message', data: '' };
              const data: string[] = [];
              for (const line of block.split('\n')) {
                if (line.startsWith(':')) {
                  event.event = 'comment';
                  data.push(line.slice(1).trim());
                  continue;
                }
                const colon = line.indexOf(':');
                const field = line.slice(0, colon);
                const value = line.slice(colon + 1).replace(/^ /, '');
                if (field === 'event') event.event = value;
                else if (field === 'id') event.id = value;
                else if (field === 'data') data.push(value);
              }
              event.data = data.join('\n');
              yield event;
            }
          }
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}
