/**
 * Trace export for `longrun serve` and `longrun runner`, set up from OpenTelemetry's standard
 * variables with OpenTelemetry's own SDK and OTLP/HTTP exporters. Without an endpoint nothing is
 * loaded: the SDK's modules are imported only when one is set, and the library's spans stay no-ops.
 *
 * - OTEL_EXPORTER_OTLP_ENDPOINT (spans go to `$it/v1/traces`) or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
 *   (used as is): where to send; unset, nothing is exported.
 * - OTEL_EXPORTER_OTLP_PROTOCOL / OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: `http/protobuf` (default) or
 *   `http/json`.
 * - OTEL_SERVICE_NAME (default: longrun), OTEL_RESOURCE_ATTRIBUTES.
 * - OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG (default: parentbased_always_on), read by the SDK.
 * - OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none: nothing is exported.
 */
import { ConfigError } from '../config.js';
import type { Logger } from '../log.js';

export const TRACE_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type TraceProtocol = (typeof TRACE_PROTOCOLS)[number];

export interface TraceExport {
  protocol: TraceProtocol;
  /** Sends what is buffered and stops; spans ended afterwards are dropped. */
  shutdown(): Promise<void>;
}

/** Whether the variables ask for export, and with which protocol; a ConfigError (exit 2) for a protocol longrun cannot speak. */
export function traceExportOf(env: NodeJS.ProcessEnv): { protocol: TraceProtocol; url: string } | undefined {
  const signal = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim();
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim();
  // As the specification says: the signal's own endpoint as it is, the base one with /v1/traces.
  const url = signal ? signal : base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined;
  if (url === undefined) return undefined;
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return undefined;
  if (env['OTEL_TRACES_EXPORTER']?.split(',').map((name) => name.trim().toLowerCase()).includes('none')) return undefined;
  const protocol = (env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] || env['OTEL_EXPORTER_OTLP_PROTOCOL'] || 'http/protobuf').trim();
  if (!(TRACE_PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new ConfigError(`OTEL_EXPORTER_OTLP_PROTOCOL: longrun exports traces over ${TRACE_PROTOCOLS.join(' or ')}, not ${protocol}`);
  }
  return { protocol: protocol as TraceProtocol, url };
}

/**
 * Registers a tracer provider, the W3C propagators and the async-context manager globally (this
 * process is the app here) when the variables ask for export; undefined otherwise.
 */
export async function startTraceExport(env: NodeJS.ProcessEnv, logger: Logger): Promise<TraceExport | undefined> {
  const wanted = traceExportOf(env);
  if (wanted === undefined) return undefined;
  const [{ NodeTracerProvider, BatchSpanProcessor }, resources, exporterModule] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/resources'),
    wanted.protocol === 'http/json' ? import('@opentelemetry/exporter-trace-otlp-http') : import('@opentelemetry/exporter-trace-otlp-proto'),
  ]);
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': 'longrun' }))
    // OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME, win over the default name.
    .merge(resources.detectResources({ detectors: [resources.envDetector] }))
    .merge(env['OTEL_SERVICE_NAME'] ? resources.resourceFromAttributes({ 'service.name': env['OTEL_SERVICE_NAME'] }) : resources.emptyResource());
  // Headers, timeout and compression the exporter reads from the same variables itself.
  const exporter = new exporterModule.OTLPTraceExporter({ url: wanted.url });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  provider.register();
  logger.info({ protocol: wanted.protocol, collector: originOf(wanted.url), service: resource.attributes['service.name'] }, 'exporting traces');
  return {
    protocol: wanted.protocol,
    shutdown: async () => {
      try {
        await provider.shutdown();
      } catch (error) {
        logger.warn({ err: error }, 'the last spans could not be exported');
      }
    },
  };
}

/** Only the collector's origin is logged: its URL may carry credentials. */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}
