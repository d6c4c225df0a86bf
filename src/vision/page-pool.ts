/**
 * A pool of page-worker threads shared by every Vision operation of the process, one per core (at
 * most 4). A document (PDF, TIFF or GIF) is opened by each worker that is given one of its pages
 * (the bytes travel once per worker), and pages go to the least busy worker. Workers start on
 * first use and keep the process alive only while they have work.
 * A page that does not come back within the page time limit (a decoder looping on a corrupt
 * image: utif2's LZW decoder never ends on some garbage) gets a DEADLINE_EXCEEDED error in its
 * response; its worker is ended, and the other pages it held are sent again to another one.
 * A worker holds the documents of every file and operation in flight at once, so pdf.js must keep
 * each document's state apart: pdf.js 5.4.624 kept one page count per thread, the last document's,
 * and refused the other documents' later pages ("Invalid page request.", pdf.js issue 20629).
 * test/vision/concurrent-documents.test.ts guards this.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Code, LongrunError } from '../index.js';
import { VISION_ERROR_DOMAIN } from './errors.js';

/** How a document's pages without text are recognised: the OCR model, or why they cannot be. */
export type OcrSetting = { model: string } | { refused: string };

export type WorkerRequest =
  | { type: 'open'; doc: number; bytes: Uint8Array; source: string; mimeType: string; ocr: OcrSetting; id?: number }
  | { type: 'count'; bytes: Uint8Array; source: string; mimeType: string; id: number }
  | { type: 'page'; doc: number; number: number; id: number }
  | { type: 'close'; doc: number };

export type WorkerReply =
  | { id: number; pageCount: number }
  | { id: number; json: Uint8Array<ArrayBuffer> }
  | { id: number; error: { unreadable: boolean; message: string } };

export interface AnnotatedPage {
  /** The page's AnnotateImageResponse as proto3 JSON, in UTF-8. */
  json: Uint8Array;
}

interface PoolWorker {
  worker: Worker;
  busy: number;
  pending: Map<number, { resolve(reply: WorkerReply): void; reject(error: Error): void }>;
  /** Documents this worker has been sent. */
  open: Set<number>;
}

export interface PagePoolOptions {
  /** Worker threads (default: one per core, at most 4). */
  size?: number;
  /** A page's time from being handed to a worker to its answer (default: 5 minutes). */
  pageTimeoutMs?: number;
}

// google.rpc.Code.DEADLINE_EXCEEDED, in the page's own response.
const DEADLINE_EXCEEDED = 4;

/** The worker ended (another page's time limit, or a crash) before answering. */
class WorkerLostError extends Error {
  override readonly name = 'WorkerLostError';
}

export class PagePool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 0;
  private nextDoc = 0;
  readonly size: number;
  private readonly pageTimeoutMs: number;

  constructor(options: PagePoolOptions = {}) {
    this.size = options.size ?? Math.max(1, Math.min(4, availableParallelism()));
    this.pageTimeoutMs = options.pageTimeoutMs ?? 300_000;
  }

  /** Opens a file in the workers; an unreadable one becomes INVALID_ARGUMENT naming `source`. */
  async open(bytes: Uint8Array, source: string, mimeType: string, ocr: OcrSetting): Promise<PoolDocument> {
    const doc = this.nextDoc++;
    const worker = this.leastBusy();
    const parsed = this.request(worker, (id) => ({ type: 'open', doc, bytes, source, mimeType, ocr, id }));
    worker.open.add(doc);
    const document = { doc, bytes, source, mimeType, ocr };
    // Its pages will go to every worker: all of them parse it now, side by side.
    for (const other of this.workers) this.ensureOpen(other, document);
    const reply = await parsed;
    if (!('pageCount' in reply)) {
      this.close(doc);
      throw failure(reply, source, mimeType);
    }
    return new PoolDocument(this, document, reply.pageCount);
  }

  /** The number of pages of a file, read by one worker and not kept. */
  async pageCount(bytes: Uint8Array, source: string, mimeType: string): Promise<number> {
    const reply = await this.request(this.leastBusy(), (id) => ({ type: 'count', bytes, source, mimeType, id }));
    if (!('pageCount' in reply)) throw failure(reply, source, mimeType);
    return reply.pageCount;
  }

  /** @internal */
  async annotate(document: OpenedDocument, number: number, retried = false): Promise<AnnotatedPage> {
    const worker = this.leastBusy();
    this.ensureOpen(worker, document);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void worker.worker.terminate();
    }, this.pageTimeoutMs);
    let reply;
    try {
      reply = await this.request(worker, (id) => ({ type: 'page', doc: document.doc, number, id }));
    } catch (error) {
      if (timedOut) {
        const message = `Page ${number} of ${document.source} was not done within ${this.pageTimeoutMs / 1000} s and was abandoned (a corrupt image?)`;
        const response = { error: { code: DEADLINE_EXCEEDED, message }, context: { uri: document.source, pageNumber: number } };
        return { json: Buffer.from(JSON.stringify(response)) };
      }
      // Lost with a page that was, once: it gets another worker.
      if (error instanceof WorkerLostError && !retried) return this.annotate(document, number, true);
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if (!('json' in reply)) throw failure(reply, document.source, document.mimeType);
    return reply;
  }

  private ensureOpen(worker: PoolWorker, document: OpenedDocument): void {
    if (worker.open.has(document.doc)) return;
    worker.open.add(document.doc);
    const { doc, bytes, source, mimeType, ocr } = document;
    worker.worker.postMessage({ type: 'open', doc, bytes, source, mimeType, ocr } satisfies WorkerRequest);
  }

  /** @internal */
  close(doc: number): void {
    for (const worker of this.workers) {
      if (worker.open.delete(doc)) worker.worker.postMessage({ type: 'close', doc } satisfies WorkerRequest);
    }
  }

  private request(worker: PoolWorker, message: (id: number) => WorkerRequest): Promise<WorkerReply> {
    const id = this.nextId++;
    // Held open while it has work (someone awaits it), let go when idle.
    if (worker.busy++ === 0) worker.worker.ref();
    return new Promise<WorkerReply>((resolve, reject) => {
      worker.pending.set(id, { resolve, reject });
      worker.worker.postMessage(message(id));
    }).finally(() => {
      if (--worker.busy === 0) worker.worker.unref();
    });
  }

  private leastBusy(): PoolWorker {
    const idle = this.workers.find((worker) => worker.busy === 0);
    if (idle !== undefined) return idle;
    // All at once: a worker takes a few hundred ms to load pdf.js, better paid before it is needed.
    if (this.workers.length < this.size) {
      while (this.workers.length < this.size) this.spawn();
      return this.workers.find((worker) => worker.busy === 0)!;
    }
    return this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  private spawn(): PoolWorker {
    const worker = new Worker(new URL('./page-worker.js', import.meta.url));
    const entry: PoolWorker = { worker, busy: 0, pending: new Map(), open: new Set() };
    worker.on('message', (reply: WorkerReply) => {
      const waiting = entry.pending.get(reply.id);
      entry.pending.delete(reply.id);
      waiting?.resolve(reply);
    });
    // A worker that dies (out of memory, say) fails what it had and is replaced on next use.
    const fail = (error: Error) => {
      const index = this.workers.indexOf(entry);
      if (index >= 0) this.workers.splice(index, 1);
      for (const waiting of entry.pending.values()) waiting.reject(error);
      entry.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new WorkerLostError(`page worker exited with code ${code}`)));
    // After the listeners, which would otherwise hold the process open again.
    worker.unref();
    this.workers.push(entry);
    return entry;
  }
}

interface OpenedDocument {
  doc: number;
  bytes: Uint8Array;
  source: string;
  mimeType: string;
  ocr: OcrSetting;
}

export class PoolDocument {
  constructor(
    private readonly pool: PagePool,
    private readonly document: OpenedDocument,
    readonly pageCount: number,
  ) {}

  annotate(number: number): Promise<AnnotatedPage> {
    return this.pool.annotate(this.document, number);
  }

  close(): void {
    this.pool.close(this.document.doc);
  }
}

function failure(reply: WorkerReply, source: string, mimeType: string): Error {
  const { unreadable, message } = 'error' in reply ? reply.error : { unreadable: false, message: 'unexpected reply' };
  const reason = mimeType === 'application/pdf' ? 'INVALID_PDF' : 'INVALID_IMAGE';
  if (unreadable) return new LongrunError(Code.INVALID_ARGUMENT, message, reason, { metadata: { uri: source }, domain: VISION_ERROR_DOMAIN });
  return new Error(`annotating ${source}: ${message}`);
}
