/** The document formats `readDocument` reads, by extension (a module of its own: the ingest step needs the list, not the readers). */
export const DOCUMENT_TYPES = ['.txt', '.md', '.html', '.htm', '.eml', '.pdf', '.docx'] as const;

/** Whether a key names a document (by its extension). */
export function isDocumentKey(key: string): boolean {
  const lower = key.toLowerCase();
  return DOCUMENT_TYPES.some((t) => lower.endsWith(t));
}
