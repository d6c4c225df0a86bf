/**
 * TIFF and GIF files as pages of pixels, decoded by maintained libraries (utif2 for TIFF, omggif
 * for GIF), one page at a time: opening a file reads its directory (page count and sizes) only,
 * so a 500-page TIFF never has more than the page being recognised decoded at once.
 * A TIFF's pages are its image directories; a GIF's are its frames, each drawn on white by itself
 * (Vision's files API takes GIFs as documents, not animations).
 */
import { createRequire } from 'node:module';
import { GifReader } from 'omggif';
import type * as Utif from 'utif2';
import { checkPixels, CorruptImageError, rasterFromRgba, type Raster } from './raster.js';

// utif2 sets module.exports to one object at run time, which ES named imports cannot see.
const UTIF = createRequire(import.meta.url)('utif2') as typeof Utif;

/** The bytes are not a file of the kind named (not a TIFF, not a GIF, or no page in it). */
export class UnreadableImageError extends Error {
  override readonly name = 'UnreadableImageError';
}

export interface ImageFile {
  readonly pageCount: number;
  /** Page `number` (1-based) as grey pixels; throws PageTooLargeError or CorruptImageError. */
  page(number: number): Raster;
}

export const IMAGE_MIME_TYPES = ['image/tiff', 'image/gif'] as const;
export type ImageMimeType = (typeof IMAGE_MIME_TYPES)[number];

export function openImage(bytes: Uint8Array, mimeType: ImageMimeType, source: string): ImageFile {
  return mimeType === 'image/tiff' ? new TiffFile(bytes, source) : new GifFile(bytes, source);
}

class TiffFile implements ImageFile {
  private readonly pages: Utif.IFD[];
  private readonly buffer: ArrayBuffer;

  constructor(bytes: Uint8Array, source: string) {
    // utif2 reads from an ArrayBuffer at offset 0: give it one of its own.
    this.buffer = bytes.slice().buffer as ArrayBuffer;
    const head = String.fromCharCode(bytes[0] ?? 0, bytes[1] ?? 0);
    if (head !== 'II' && head !== 'MM') throw new UnreadableImageError(`${source} is not a readable TIFF file: no TIFF header`);
    let directories: Utif.IFD[];
    try {
      directories = UTIF.decode(this.buffer);
    } catch (error) {
      throw new UnreadableImageError(`${source} is not a readable TIFF file: ${messageOf(error)}`);
    }
    // Directories without a size are not pages (EXIF or GPS data).
    this.pages = directories.filter((ifd) => width(ifd) > 0 && height(ifd) > 0);
    if (this.pages.length === 0) throw new UnreadableImageError(`${source} is not a readable TIFF file: it holds no image`);
  }

  get pageCount(): number {
    return this.pages.length;
  }

  page(number: number): Raster {
    const ifd = this.pages[number - 1]!;
    // Before decoding: the size is in the directory, the pixels would be the memory.
    checkPixels(width(ifd), height(ifd), `Page ${number}`);
    // utif2 reads past the end of a truncated file as zeros (black) rather than failing.
    const offsets = numbers(ifd['t273'] ?? ifd['t324']);
    const counts = numbers(ifd['t279'] ?? ifd['t325']);
    if (offsets.length === 0 || offsets.some((offset, i) => offset + (counts[i] ?? 0) > this.buffer.byteLength)) {
      throw new CorruptImageError('the TIFF image data is truncated or missing');
    }
    let rgba: Uint8Array;
    try {
      UTIF.decodeImage(this.buffer, ifd);
      rgba = UTIF.toRGBA8(ifd);
    } catch (error) {
      throw new CorruptImageError(`the TIFF image data could not be decoded: ${messageOf(error)}`);
    } finally {
      // The directory keeps what was decoded; only this page's raster should outlive the call.
      ifd.data = new Uint8Array(0);
    }
    if (rgba.length !== ifd.width * ifd.height * 4) throw new CorruptImageError('the TIFF image data could not be decoded: it is truncated');
    return rasterFromRgba(rgba, ifd.width, ifd.height);
  }
}

function numbers(tag: unknown): number[] {
  return Array.isArray(tag) ? tag.map(Number) : [];
}

// utif2 throws plain values at times (undefined from its inflate, for one).
function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : `${String(error)} (no detail given)`;
}

function width(ifd: Utif.IFD): number {
  return Number((ifd['t256'] as number[] | undefined)?.[0] ?? 0);
}

function height(ifd: Utif.IFD): number {
  return Number((ifd['t257'] as number[] | undefined)?.[0] ?? 0);
}

class GifFile implements ImageFile {
  private readonly reader: GifReader;

  constructor(bytes: Uint8Array, source: string) {
    try {
      this.reader = new GifReader(bytes);
    } catch (error) {
      throw new UnreadableImageError(`${source} is not a readable GIF file: ${messageOf(error)}`);
    }
    if (this.reader.numFrames() === 0) throw new UnreadableImageError(`${source} is not a readable GIF file: it holds no image`);
  }

  get pageCount(): number {
    return this.reader.numFrames();
  }

  page(number: number): Raster {
    const { width, height } = this.reader;
    checkPixels(width, height, `Page ${number}`);
    // White where the frame does not draw (outside it, or transparent).
    const rgba = new Uint8Array(width * height * 4).fill(255);
    try {
      this.reader.decodeAndBlitFrameRGBA(number - 1, rgba);
    } catch (error) {
      throw new CorruptImageError(`the GIF frame could not be decoded: ${messageOf(error)}`);
    }
    return rasterFromRgba(rgba, width, height);
  }
}
