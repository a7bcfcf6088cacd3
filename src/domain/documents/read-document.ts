/**
 * A document's text, whatever its format, read with well-kept libraries: `.txt` and `.md` as UTF-8, `.html` with
 * html-to-text, `.eml` with mailparser (headers, body, and attachments that are themselves documents), `.pdf`'s
 * text layer with unpdf (pdf.js), `.docx` with mammoth. A document that cannot be read is refused with the reason
 * (empty, over the size limit, unknown type, not UTF-8, encrypted or corrupt PDF, no text layer, corrupt .docx);
 * the caller names the file and its opportunity.
 */
import { convert } from 'html-to-text';
import { simpleParser } from 'mailparser';
import mammoth from 'mammoth';
import { extractText, getDocumentProxy, getResolvedPDFJS } from 'unpdf';

export interface DocumentRead {
  ok: true;
  text: string;
  /** An e-mail's headers (from, to, cc, subject, date), when the document is one. */
  headers?: Record<string, string>;
  /** Attachments that are documents themselves, to be read as their own. */
  attachments: Array<{ name: string; bytes: Buffer }>;
}
export type DocumentResult = DocumentRead | { ok: false; reason: string };

import { DOCUMENT_TYPES } from './types.ts';

export { DOCUMENT_TYPES };

const refuse = (reason: string): DocumentResult => ({ ok: false, reason });
const extensionOf = (name: string) => (/\.[^./\\]+$/.exec(name.toLowerCase())?.[0] ?? '');

/**
 * Reads one document.
 * @example await readDocument('notes/call.pdf', bytes, { maxBytes: 20 * 1024 * 1024 }) // { ok: true, text, attachments: [] }
 */
export async function readDocument(name: string, bytes: Buffer, limits: { maxBytes: number }): Promise<DocumentResult> {
  if (bytes.length === 0) return refuse('the file is empty (0 bytes)');
  if (bytes.length > limits.maxBytes) return refuse(`the file is ${bytes.length} bytes; at most ${limits.maxBytes} are read`);
  const type = extensionOf(name);
  switch (type) {
    case '.txt':
    case '.md':
      return utf8(bytes);
    case '.html':
    case '.htm': {
      const decoded = utf8(bytes);
      return decoded.ok ? { ok: true, text: htmlText(decoded.text), attachments: [] } : decoded;
    }
    case '.eml':
      return email(bytes);
    case '.pdf':
      return pdf(bytes);
    case '.docx':
      return docx(bytes);
    default:
      return refuse(`unknown type ${type || '(no extension)'}; sluice reads ${DOCUMENT_TYPES.join(', ')}`);
  }
}

/** Loads what the readers otherwise load on their first document (pdf.js), for a process that will read documents. */
export async function warmReaders(): Promise<void> {
  await getResolvedPDFJS();
}

function utf8(bytes: Buffer): DocumentResult {
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), attachments: [] };
  } catch {
    return refuse('not UTF-8 text');
  }
}

const htmlText = (html: string) => convert(html, { wordwrap: false, selectors: [{ selector: 'a', options: { ignoreHref: true } }, { selector: 'img', format: 'skip' }] });

async function email(bytes: Buffer): Promise<DocumentResult> {
  const mail = await simpleParser(bytes);
  const text = mail.text?.trim() ? mail.text : mail.html ? htmlText(mail.html) : '';
  const headers: Record<string, string> = {};
  for (const [key, value] of [['from', mail.from?.text], ['to', [mail.to].flat().map((a) => a?.text).filter(Boolean).join(', ')], ['cc', [mail.cc].flat().map((a) => a?.text).filter(Boolean).join(', ')], ['subject', mail.subject], ['date', mail.date?.toISOString()]] as const) {
    if (value) headers[key] = value;
  }
  const attachments = mail.attachments.filter((a) => a.filename && DOCUMENT_TYPES.some((t) => extensionOf(a.filename!) === t)).map((a) => ({ name: a.filename!, bytes: a.content }));
  if (!text.trim() && !attachments.length) return refuse('the e-mail has no text and no readable attachment');
  return { ok: true, text, headers, attachments };
}

async function pdf(bytes: Buffer): Promise<DocumentResult> {
  let text: string;
  try {
    const doc = await getDocumentProxy(new Uint8Array(bytes));
    text = (await extractText(doc, { mergePages: true })).text;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e.name === 'PasswordException') return refuse('the PDF is encrypted (password protected)');
    return refuse(`not a readable PDF: ${e.message ?? String(err)}`);
  }
  if (!text.trim()) return refuse('the PDF has no text layer (a scan? sluice does not OCR)');
  return { ok: true, text, attachments: [] };
}

async function docx(bytes: Buffer): Promise<DocumentResult> {
  let text: string;
  try {
    text = (await mammoth.extractRawText({ buffer: bytes })).value;
  } catch (err) {
    return refuse(`not a readable .docx: ${(err as Error).message}`);
  }
  if (!text.trim()) return refuse('the .docx has no text');
  return { ok: true, text, attachments: [] };
}
