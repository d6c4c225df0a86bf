/**
 * AsyncBatchAnnotateFilesRequest as the handler needs it: checked field by field (INVALID_ARGUMENT
 * naming the field, before any operation exists) and reduced to a plan of files.
 */
import { invalidArgument } from '../index.js';
import { parseGcsUri, type LocalStorage } from './storage.js';

/** The request as longrun decodes it (camelCase, defaults filled, enums by name). */
export interface AsyncBatchAnnotateFilesRequest {
  requests: AsyncAnnotateFileRequest[];
  parent: string;
  labels: Record<string, string>;
}
export interface AsyncAnnotateFileRequest {
  inputConfig: { gcsSource: { uri: string } | null; content: Uint8Array; mimeType: string } | null;
  features: { type: string; maxResults: number; model: string }[];
  imageContext: { languageHints: string[] } | null;
  outputConfig: { gcsDestination: { uri: string } | null; batchSize: number } | null;
}

/** Documented limits (docs/vision.md). */
export const LIMITS = {
  files: 100,
  pages: 2000,
  fileBytes: 64 * 1024 * 1024,
  defaultBatchSize: 20,
  maxBatchSize: 100,
} as const;

// As Vision's files API: PDF, and TIFF and GIF images (every page or frame of them).
export const SUPPORTED_MIME_TYPES = ['application/pdf', 'image/tiff', 'image/gif'];
const TEXT_FEATURES = new Set(['TEXT_DETECTION', 'DOCUMENT_TEXT_DETECTION']);

export interface FilePlan {
  /** Index in `requests`, for field paths in errors. */
  index: number;
  /** gs:// URI, or undefined for inline content. */
  uri: string | undefined;
  content: Uint8Array | undefined;
  mimeType: string;
  /** Output prefix, gs://BUCKET/PREFIX. */
  destination: string;
  batchSize: number;
  /** imageContext.languageHints, for the pages read by OCR. */
  languageHints: string[];
}

/** Checks everything that can be checked without reading the inputs. */
export function planOf(request: AsyncBatchAnnotateFilesRequest, storage: LocalStorage): FilePlan[] {
  if (request.requests.length === 0) throw invalidArgument('requests', 'must hold at least one file to annotate');
  if (request.requests.length > LIMITS.files) {
    throw invalidArgument('requests', `holds ${request.requests.length} files; at most ${LIMITS.files} are accepted per call`);
  }
  return request.requests.map((file, index): FilePlan => {
    const at = (field: string) => `requests[${index}].${field}`;
    const input = file.inputConfig;
    if (input === null) throw invalidArgument(at('input_config'), 'is required');
    const uri = input.gcsSource?.uri ?? '';
    const hasContent = input.content.length > 0;
    if (uri === '' && !hasContent) throw invalidArgument(at('input_config'), 'needs gcs_source.uri or content');
    if (uri !== '' && hasContent) throw invalidArgument(at('input_config'), 'takes gcs_source.uri or content, not both');
    if (uri !== '') parseGcsUri(uri, at('input_config.gcs_source.uri'), 'object');
    if (hasContent && input.content.length > LIMITS.fileBytes) {
      throw invalidArgument(at('input_config.content'), `is ${input.content.length} bytes; at most ${LIMITS.fileBytes} are accepted`);
    }
    if (input.mimeType === '') throw invalidArgument(at('input_config.mime_type'), `is required (supported: ${SUPPORTED_MIME_TYPES.join(', ')})`);
    if (!SUPPORTED_MIME_TYPES.includes(input.mimeType)) {
      throw invalidArgument(at('input_config.mime_type'), `"${input.mimeType}" is not supported (supported: ${SUPPORTED_MIME_TYPES.join(', ')})`);
    }
    if (file.features.length === 0) throw invalidArgument(at('features'), 'must name at least one feature (TEXT_DETECTION or DOCUMENT_TEXT_DETECTION)');
    file.features.forEach((feature, i) => {
      // An enum number this server does not know decodes as a number, not a name.
      if (!TEXT_FEATURES.has(String(feature.type))) {
        throw invalidArgument(at(`features[${i}].type`), `${feature.type} is not supported; use TEXT_DETECTION or DOCUMENT_TEXT_DETECTION`);
      }
    });
    const output = file.outputConfig;
    const destination = output?.gcsDestination?.uri ?? '';
    if (destination === '') throw invalidArgument(at('output_config.gcs_destination.uri'), 'is required');
    storage.checkPrefix(destination, at('output_config.gcs_destination.uri')); // parses it too
    const batchSize = output!.batchSize === 0 ? LIMITS.defaultBatchSize : output!.batchSize;
    if (batchSize < 1 || batchSize > LIMITS.maxBatchSize) {
      throw invalidArgument(at('output_config.batch_size'), `must be between 1 and ${LIMITS.maxBatchSize} (0 means ${LIMITS.defaultBatchSize})`);
    }
    const languageHints = file.imageContext?.languageHints ?? [];
    return { index, uri: uri === '' ? undefined : uri, content: hasContent ? input.content : undefined, mimeType: input.mimeType, destination, batchSize, languageHints };
  });
}
