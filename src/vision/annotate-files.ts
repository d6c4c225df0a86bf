/**
 * The work of `google.cloud.vision.v1.ImageAnnotator/AsyncBatchAnnotateFiles`: text detection on
 * PDF, TIFF and GIF files (a PDF's text layer where it has one, OCR elsewhere), written as Vision
 * writes it (JSON shards of `batch_size` pages under each request's output prefix), with Vision's
 * OperationMetadata and AsyncBatchAnnotateFilesResponse. Pages are read in worker threads
 * (page-pool.ts); shards are assembled from their proto3 JSON.
 * Built only on longrun's public embedding API, as any app would.
 */
import { invalidArgument, type Longrun, type LongrunError } from '../index.js';
import { ocrLanguageOf, OCR_LANGUAGES } from './languages.js';
import { PagePool, type AnnotatedPage, type OcrSetting, type PoolDocument } from './page-pool.js';
import { LIMITS, planOf, type AsyncBatchAnnotateFilesRequest, type FilePlan } from './request.js';
import type { LocalStorage } from './storage.js';

export const ASYNC_BATCH_ANNOTATE_FILES = '/google.cloud.vision.v1.ImageAnnotator/AsyncBatchAnnotateFiles';

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
export function addAsyncBatchAnnotateFiles(longrun: Longrun, storage: LocalStorage, options: { concurrency?: number } = {}): void {
  const pool = new PagePool();

  longrun.method<AsyncBatchAnnotateFilesRequest, OperationMetadata, AsyncBatchAnnotateFilesResponse>(
    ASYNC_BATCH_ANNOTATE_FILES,
    async (request, context) => {
      const plans = planOf(request, storage);
      const createTime = timestamp(context.createTime.getTime());
      const setState = (state: State) => context.setMetadata({ state, createTime, updateTime: timestamp(Date.now()) });
      await setState('RUNNING');
      try {
        await annotateAll();
      } catch (error) {
        // Vision's State has no FAILED: a failed operation's metadata says DONE (its error says why).
        if (!context.signal.aborted) await setState('DONE').catch(() => undefined);
        throw error;
      }
      await setState('DONE');
      return {
        responses: plans.map((plan) => ({ outputConfig: { gcsDestination: { uri: plan.destination }, batchSize: plan.batchSize } })),
      };

      async function annotateAll(): Promise<void> {
        const files = await openAll(plans, storage, pool);
        const writes: Promise<unknown>[] = [];
        try {
          const totalPages = files.reduce((sum, file) => sum + file.document.pageCount, 0);
          if (totalPages > LIMITS.pages) throw tooManyPages(totalPages);
          let processed = 0;
          let reported = 0;
          const pageDone = async () => {
            const percent = Math.floor((++processed * 100) / totalPages);
            if (percent <= reported) return;
            // As Vision does: update_time moves as pages complete, so a plain poller sees the operation move.
            await setState('RUNNING');
            await context.progress((reported = percent));
          };
          const stopIfCancelled = async () => {
            if (!context.signal.aborted) return;
            // Best effort: if the lease was lost rather than the operation cancelled, this write is fenced off.
            await setState('CANCELLED').catch(() => undefined);
            throw context.signal.reason;
          };
          for (const file of files) await annotateFile(file, { window: pool.size * 2, storage, writes, pageDone, stopIfCancelled });
          await Promise.all(writes);
        } finally {
          for (const file of files) file.document.close();
          // A cancelled operation still finishes the shards it started writing.
          await Promise.allSettled(writes);
        }
      }
    },
    {
      concurrency: options.concurrency ?? 2,
      // As Vision answers: 200 with the Operation, never Retry-After (gcloud resends a 2xx that has one).
      httpAnswer: 'google',
      async validate(request) {
        const plans = planOf(request, storage);
        // The page limit needs the files; missing or unreadable ones are reported by the run.
        let pages = 0;
        for (const plan of plans) {
          pages += await readFile(plan, storage)
            .then(({ bytes, source }) => pool.pageCount(bytes, source, plan.mimeType))
            .catch(() => 0);
        }
        if (pages > LIMITS.pages) throw tooManyPages(pages);
      },
      initialMetadata: (_request, now) => ({ state: 'CREATED', createTime: timestamp(now.getTime()), updateTime: timestamp(now.getTime()) }),
    },
  );
}

interface OpenFile {
  plan: FilePlan;
  document: PoolDocument;
}

async function openAll(plans: readonly FilePlan[], storage: LocalStorage, pool: PagePool): Promise<OpenFile[]> {
  const files: OpenFile[] = [];
  try {
    for (const plan of plans) files.push(await openFile(plan, storage, pool));
    return files;
  } catch (error) {
    for (const file of files) file.document.close();
    throw error;
  }
}

async function openFile(plan: FilePlan, storage: LocalStorage, pool: PagePool): Promise<OpenFile> {
  const { bytes, source } = await readFile(plan, storage);
  return { plan, document: await pool.open(bytes, source, plan.mimeType, ocrSettingOf(plan)) };
}

/** A hint OCR cannot honour fails the pages that need OCR, each in its response, not the file. */
function ocrSettingOf(plan: FilePlan): OcrSetting {
  const language = ocrLanguageOf(plan.languageHints);
  if ('model' in language) return language;
  const field = `requests[${plan.index}].image_context.language_hints`;
  return { refused: `${field}: "${language.unsupported}" is not a language this server recognises (it reads: ${Object.keys(OCR_LANGUAGES).join(', ')})` };
}

async function readFile(plan: FilePlan, storage: LocalStorage): Promise<{ bytes: Uint8Array; source: string }> {
  // Inline content is named by its field, in errors and in each page's context.
  const source = plan.uri ?? `requests[${plan.index}].input_config.content`;
  const bytes = plan.content ?? (await storage.read(plan.uri!, `requests[${plan.index}].input_config.gcs_source.uri`, LIMITS.fileBytes));
  return { bytes, source };
}

interface FileRun {
  /** Pages handed to the workers ahead of the one awaited, so none waits. */
  window: number;
  storage: LocalStorage;
  /** Shard writes started; the operation awaits them before it ends. */
  writes: Promise<unknown>[];
  pageDone(): Promise<void>;
  stopIfCancelled(): Promise<void>;
}

/**
 * Streams a file's pages through the workers and starts writing each shard as soon as its last
 * page is back, while the workers go on with the next ones. A cancel is seen before each page is
 * handed out.
 */
async function annotateFile({ plan, document }: OpenFile, run: FileRun): Promise<void> {
  const pageCount = document.pageCount;
  const inFlight: Promise<AnnotatedPage>[] = [];
  let next = 1;
  let shard: Uint8Array[] = [];
  for (let number = 1; number <= pageCount; number++) {
    for (; next <= pageCount && next < number + run.window; next++) {
      await run.stopIfCancelled();
      const page = document.annotate(next);
      page.catch(() => undefined); // abandoned if the operation stops first
      inFlight.push(page);
    }
    shard.push((await inFlight.shift()!).json);
    await run.pageDone();
    if (shard.length === plan.batchSize || number === pageCount) {
      const first = number - shard.length + 1;
      const json = shardJson(inputConfigOf(plan), shard, pageCount);
      const write = run.storage.write(plan.destination, `output-${first}-to-${number}.json`, json, `requests[${plan.index}].output_config.gcs_destination.uri`);
      write.catch(() => undefined); // awaited by the operation, after the other pages
      run.writes.push(write);
      shard = [];
    }
  }
}

const COMMA = Buffer.from(',');

/** An AnnotateFileResponse in proto3 JSON, in pieces, from its pages' JSON: neither decoded nor copied. */
function shardJson(inputConfig: Record<string, unknown>, pages: readonly Uint8Array[], totalPages: number): Uint8Array[] {
  const parts: Uint8Array[] = [Buffer.from(`{"inputConfig":${JSON.stringify(inputConfig)},"responses":[`)];
  pages.forEach((page, i) => parts.push(...(i === 0 ? [page] : [COMMA, page])));
  parts.push(Buffer.from(`],"totalPages":${totalPages}}`));
  return parts;
}

function inputConfigOf(plan: FilePlan): Record<string, unknown> {
  return plan.uri === undefined ? { mimeType: plan.mimeType } : { gcsSource: { uri: plan.uri }, mimeType: plan.mimeType };
}

function tooManyPages(pages: number): LongrunError {
  return invalidArgument('requests', `the files have ${pages} pages in all; at most ${LIMITS.pages} are accepted per call`);
}

function timestamp(ms: number): Timestamp {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
