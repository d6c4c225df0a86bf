/**
 * The work of `google.cloud.vision.v1.ImageAnnotator/AsyncBatchAnnotateFiles`: text detection on
 * PDF files, written as Vision writes it (JSON shards of `batch_size` pages under each request's
 * output prefix), with Vision's OperationMetadata and AsyncBatchAnnotateFilesResponse.
 * Built only on longrun's public embedding API, as any app would.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Code, LongrunError, invalidArgument, type Longrun, type OperationContext } from '../index.js';
import { layoutPage } from './layout.js';
import { PdfFile } from './pdf.js';
import { LIMITS, planOf, type AsyncBatchAnnotateFilesRequest, type FilePlan } from './request.js';
import type { LocalStorage } from './storage.js';

export const ASYNC_BATCH_ANNOTATE_FILES = '/google.cloud.vision.v1.ImageAnnotator/AsyncBatchAnnotateFiles';
const ANNOTATE_FILE_RESPONSE = 'google.cloud.vision.v1.AnnotateFileResponse';

type State = 'CREATED' | 'RUNNING' | 'DONE' | 'CANCELLED';
interface Timestamp {
  seconds: number;
  nanos: number;
}
interface OperationMetadata {
  state: State;
  createTime: Timestamp;
  updateTime: Timestamp;
}
interface AsyncBatchAnnotateFilesResponse {
  responses: { outputConfig: { gcsDestination: { uri: string }; batchSize: number } }[];
}
interface Status {
  code: number;
  message: string;
}

interface OpenFile {
  plan: FilePlan;
  /** What the shards and errors call the file: its URI, or a placeholder for inline content. */
  source: string;
  pdf: PdfFile;
}

export function addAsyncBatchAnnotateFiles(longrun: Longrun, storage: LocalStorage, options: { concurrency?: number } = {}): void {
  const toJson = (message: Record<string, unknown>): string => {
    const type = longrun.registry.type(ANNOTATE_FILE_RESPONSE);
    // proto3 JSON: camelCase names, enums by name, defaults left out.
    return JSON.stringify(type.toObject(type.fromObject(message), { json: true, enums: String, longs: String, bytes: String }));
  };

  longrun.method<AsyncBatchAnnotateFilesRequest, OperationMetadata, AsyncBatchAnnotateFilesResponse>(
    ASYNC_BATCH_ANNOTATE_FILES,
    async (request, context) => {
      const plans = planOf(request, storage);
      const createTime = timestamp((await longrun.get(context.name)).createTime);
      const setState = (state: State) => context.setMetadata({ state, createTime, updateTime: timestamp(Date.now()) });
      await setState('RUNNING');
      const files = await openAll(plans, storage);
      try {
        const totalPages = files.reduce((sum, file) => sum + file.pdf.pageCount, 0);
        if (totalPages > LIMITS.pages) throw tooManyPages(totalPages);
        let processed = 0;
        for (const file of files) {
          const pageCount = file.pdf.pageCount;
          for (let first = 1; first <= pageCount; first += file.plan.batchSize) {
            const last = Math.min(pageCount, first + file.plan.batchSize - 1);
            const responses = [];
            for (let number = first; number <= last; number++) {
              await stopIfCancelled(context, setState);
              responses.push(await annotatePage(file, number));
              processed++;
              await context.progress(Math.floor((processed * 100) / totalPages));
              // pdf.js parses on this thread: let RPCs through between pages.
              await yieldToEventLoop();
            }
            const shard = { inputConfig: inputConfigOf(file.plan), responses, totalPages: pageCount };
            await storage.write(file.plan.destination, `output-${first}-to-${last}.json`, toJson(shard), `requests[${file.plan.index}].output_config.gcs_destination.uri`);
          }
        }
      } finally {
        await Promise.all(files.map((file) => file.pdf.close()));
      }
      await setState('DONE');
      return {
        responses: plans.map((plan) => ({ outputConfig: { gcsDestination: { uri: plan.destination }, batchSize: plan.batchSize } })),
      };
    },
    {
      concurrency: options.concurrency ?? 2,
      async validate(request) {
        const plans = planOf(request, storage);
        // The page limit needs the files; missing or unreadable ones are reported by the run.
        let pages = 0;
        for (const plan of plans) {
          const file = await openFile(plan, storage).catch(() => undefined);
          if (file === undefined) continue;
          pages += file.pdf.pageCount;
          await file.pdf.close();
        }
        if (pages > LIMITS.pages) throw tooManyPages(pages);
      },
      initialMetadata: (_request, now) => ({ state: 'CREATED', createTime: timestamp(now.getTime()), updateTime: timestamp(now.getTime()) }),
    },
  );
}

async function annotatePage(file: OpenFile, number: number): Promise<Record<string, unknown>> {
  const context = { uri: file.source, pageNumber: number };
  let text;
  try {
    text = await file.pdf.page(number);
  } catch (error) {
    return { error: status(Code.INVALID_ARGUMENT, `Page ${number} of ${file.source} could not be parsed: ${(error as Error).message}`), context };
  }
  const layout = layoutPage(text);
  const response: Record<string, unknown> = { fullTextAnnotation: { pages: [layout.page], text: layout.text }, context };
  if (layout.words === 0) {
    response['error'] = status(Code.UNIMPLEMENTED, `Page ${number} has no text layer (an image-only page?); longrun reads PDF text and does not run OCR`);
  }
  return response;
}

async function openAll(plans: readonly FilePlan[], storage: LocalStorage): Promise<OpenFile[]> {
  const files: OpenFile[] = [];
  try {
    for (const plan of plans) files.push(await openFile(plan, storage));
    return files;
  } catch (error) {
    await Promise.all(files.map((file) => file.pdf.close()));
    throw error;
  }
}

async function openFile(plan: FilePlan, storage: LocalStorage): Promise<OpenFile> {
  const source = plan.uri ?? `requests[${plan.index}].input_config.content`;
  const bytes = plan.content ?? (await storage.read(plan.uri!, `requests[${plan.index}].input_config.gcs_source.uri`, LIMITS.fileBytes));
  return { plan, source, pdf: await PdfFile.open(bytes, source) };
}

async function stopIfCancelled(context: OperationContext<OperationMetadata>, setState: (state: State) => Promise<void>): Promise<void> {
  if (!context.signal.aborted) return;
  // Best effort: if the lease was lost rather than the operation cancelled, this write is fenced off.
  await setState('CANCELLED').catch(() => undefined);
  throw context.signal.reason;
}

function inputConfigOf(plan: FilePlan): Record<string, unknown> {
  return plan.uri === undefined ? { mimeType: plan.mimeType } : { gcsSource: { uri: plan.uri }, mimeType: plan.mimeType };
}

function tooManyPages(pages: number): LongrunError {
  return invalidArgument('requests', `the files have ${pages} pages in all; at most ${LIMITS.pages} are accepted per call`);
}

function status(code: number, message: string): Status {
  return { code, message };
}

function timestamp(ms: number): Timestamp {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
