/**
 * The languages OCR reads, and Vision's `imageContext.languageHints` checked against them. Apart
 * from ocr.ts so that the RPC thread can check hints without loading the OCR engine.
 */

/** Vision's language hints (BCP-47) this server can read, with the Tesseract model of each. */
export const OCR_LANGUAGES: Readonly<Record<string, string>> = { en: 'eng' };

/**
 * The language Tesseract should read for these hints, or the first hint it cannot honour.
 * Hints are matched on their primary subtag (en-GB reads as en); none means English.
 */
export function ocrLanguageOf(hints: readonly string[]): { model: string } | { unsupported: string } {
  for (const hint of hints) {
    if (OCR_LANGUAGES[hint.toLowerCase().split(/[-_]/)[0]!] === undefined) return { unsupported: hint };
  }
  return { model: OCR_LANGUAGES['en']! };
}
