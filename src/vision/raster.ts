/**
 * A page as the OCR engine takes it: 8-bit grey pixels, row by row. Grey rather than colour
 * because Tesseract binarises what it is given anyway, and a quarter of the bytes is a quarter of
 * the memory per page in flight and of the copy to the engine's thread.
 */

export interface Raster {
  width: number;
  height: number;
  /** PGM (P5) file: a short header, then `width * height` grey bytes, top row first. */
  pgm: Uint8Array;
}

/**
 * How pages are rasterised for OCR. 300 dots per inch is what Tesseract is trained for on
 * ordinary body text; a page too large for `maxPixels` at that resolution is rendered coarser,
 * down to `minDpi`, and refused beyond.
 */
export const RASTER = {
  dpi: 300,
  minDpi: 150,
  /** An A2 sheet at about 250 dpi; RGBA while rendering is 4 bytes a pixel (100 MB here). */
  maxPixels: 25_000_000,
  /** Longest side in pixels, well under the canvas's own limit (32,767). */
  maxSide: 20_000,
} as const;

/** The page would not fit the raster limits; reported on the page, not the file. */
export class PageTooLargeError extends Error {
  override readonly name = 'PageTooLargeError';
}

/** The page's image data is broken (a corrupt TIFF strip, a truncated GIF frame...). */
export class CorruptImageError extends Error {
  override readonly name = 'CorruptImageError';
}

/** Throws PageTooLargeError when an image of this size is over the limits. */
export function checkPixels(width: number, height: number, what: string): void {
  if (width * height > RASTER.maxPixels || Math.max(width, height) > RASTER.maxSide) {
    throw new PageTooLargeError(
      `${what} is ${width}x${height} pixels; at most ${RASTER.maxPixels} pixels and ${RASTER.maxSide} on a side are recognised`,
    );
  }
}

/** Grey from RGBA (ITU-R BT.601 weights), composited on white where the pixel is transparent. */
export function rasterFromRgba(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): Raster {
  const header = Buffer.from(`P5\n${width} ${height}\n255\n`, 'latin1');
  const pgm = new Uint8Array(header.length + width * height);
  pgm.set(header);
  for (let i = 0, o = header.length; i < rgba.length; i += 4, o++) {
    const alpha = rgba[i + 3]!;
    const grey = (rgba[i]! * 77 + rgba[i + 1]! * 150 + rgba[i + 2]! * 29) >> 8;
    pgm[o] = alpha === 255 ? grey : (grey * alpha + 255 * (255 - alpha) + 127) / 255;
  }
  return { width, height, pgm };
}
