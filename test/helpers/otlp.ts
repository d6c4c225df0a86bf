/**
 * An OTLP/HTTP trace receiver on loopback port 0: a node:http server that takes what
 * OpenTelemetry's exporters POST to `/v1/traces`, as JSON (http/json) or protobuf (http/protobuf,
 * decoded with protobufjs from the OTLP messages written out below), and keeps every span.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import protobuf from 'protobufjs';
import { within } from './wait.js';

export type AttributeValue = string | number | boolean;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, AttributeValue>;
  events: { name: string; attributes: Record<string, AttributeValue> }[];
  links: { traceId: string; spanId: string; attributes: Record<string, AttributeValue> }[];
  /** 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  scope: string;
  service: string;
  /** How it arrived. */
  contentType: string;
}

export const SpanKindOf = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

export interface OtlpReceiver {
  /** The base endpoint, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: string;
  spans: ReceivedSpan[];
  /** Resolves once a span matching `test` arrived. */
  waitFor(test: (span: ReceivedSpan) => boolean, what: string, ms?: number): Promise<ReceivedSpan>;
  close(): Promise<void>;
}

// The parts of opentelemetry/proto/collector/trace/v1 and its imports that a trace export uses.
const OTLP_PROTO = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5;
  int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10; repeated Event events = 11; uint32 dropped_events_count = 12;
  repeated Link links = 13; uint32 dropped_links_count = 14; Status status = 15; fixed32 flags = 16;
}
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; fixed32 flags = 6; }
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
`;
const ExportRequest = protobuf.parse(OTLP_PROTO, { keepCase: false }).root.lookupType('otlp.ExportTraceServiceRequest');

interface JsonKeyValue {
  key: string;
  value: { stringValue?: string; boolValue?: boolean; intValue?: string | number; doubleValue?: number };
}

function valueOf(value: JsonKeyValue['value'] | undefined): AttributeValue {
  if (value === undefined || value === null) return '';
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  return '';
}

function attributesOf(list: JsonKeyValue[] | undefined): Record<string, AttributeValue> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, valueOf(kv.value)]));
}

/** OTLP/JSON writes ids as hex; protobuf as bytes, which protobufjs's toObject gives as base64 here. */
function hexOf(id: string | undefined, binary: boolean): string {
  if (id === undefined || id === '') return '';
  return binary ? Buffer.from(id, 'base64').toString('hex') : id;
}

/** The export request (as OTLP/JSON, or protobuf's toObject with the same camelCase names) as spans. */
function spansOf(request: any, binary: boolean, contentType: string): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of request.resourceSpans ?? []) {
    const service = String(attributesOf(resourceSpans.resource?.attributes)['service.name'] ?? '');
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        spans.push({
          traceId: hexOf(span.traceId, binary),
          spanId: hexOf(span.spanId, binary),
          parentSpanId: hexOf(span.parentSpanId, binary),
          name: span.name,
          kind: Number(span.kind ?? 0),
          startNs: BigInt(span.startTimeUnixNano ?? 0),
          endNs: BigInt(span.endTimeUnixNano ?? 0),
          attributes: attributesOf(span.attributes),
          events: (span.events ?? []).map((event: any) => ({ name: event.name, attributes: attributesOf(event.attributes) })),
          links: (span.links ?? []).map((link: any) => ({ traceId: hexOf(link.traceId, binary), spanId: hexOf(link.spanId, binary), attributes: attributesOf(link.attributes) })),
          status: { code: Number(span.status?.code ?? 0), message: span.status?.message ?? '' },
          scope: scopeSpans.scope?.name ?? '',
          service,
          contentType,
        });
      }
    }
  }
  return spans;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const waiters = new Set<() => void>();
  const spans: ReceivedSpan[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const body = Buffer.concat(chunks);
      const contentType = String(req.headers['content-type'] ?? '');
      try {
        const binary = contentType.includes('protobuf');
        const request = binary
          ? ExportRequest.toObject(ExportRequest.decode(body), { longs: String, bytes: String, defaults: false })
          : JSON.parse(body.toString('utf8'));
        spans.push(...spansOf(request, binary, contentType));
      } catch (error) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(String(error));
        return;
      }
      for (const wake of [...waiters]) wake();
      // An empty ExportTraceServiceResponse: full success.
      if (contentType.includes('protobuf')) res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    waitFor(test, what, ms = 15_000) {
      const found = () => spans.find(test);
      const now = found();
      if (now !== undefined) return Promise.resolve(now);
      return within(
        new Promise<ReceivedSpan>((resolve) => {
          const check = () => {
            const span = found();
            if (span === undefined) return;
            waiters.delete(check);
            resolve(span);
          };
          waiters.add(check);
        }),
        `a span: ${what} (got ${spans.map((span) => span.name).join(', ') || 'none'})`,
        ms,
      );
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A W3C traceparent of a fresh, sampled trace, as a client would send it. */
export function newTraceparent(): { traceparent: string; traceId: string; spanId: string } {
  const traceId = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex');
  const spanId = Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex');
  return { traceparent: `00-${traceId}-${spanId}-01`, traceId, spanId };
}
