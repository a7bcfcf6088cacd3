/**
 * RAG retrieval over a group's notes: each note is cut into overlapping chunks of whole sentences,
 * indexed with BM25 (minisearch), and the top-k chunks for the profile's query are returned with
 * their ids as provenance, so a prompt stays bounded whatever the note length.
 */
import MiniSearch from 'minisearch';
import { splitSentences } from './extractors.ts';

export interface Chunk {
  /** `<noteId>#<n>`: which note, which piece. */
  id: string;
  noteId: string;
  /** Position of the note in time order, then of the chunk inside it. */
  order: number;
  text: string;
}

export interface NoteText {
  noteId: string;
  text: string;
}

/**
 * Cuts notes (already in time order) into chunks of at most `size` characters (a longer single
 * sentence stands alone), repeating up to `overlap` characters of trailing sentences in the next chunk.
 */
export function chunkNotes(notes: NoteText[], size: number, overlap: number): Chunk[] {
  const chunks: Chunk[] = [];
  for (const note of notes) {
    let current: string[] = [];
    let length = 0;
    let fresh = 0; // sentences added since the last chunk was cut
    let n = 0;
    const cut = () => {
      chunks.push({ id: `${note.noteId}#${n}`, noteId: note.noteId, order: chunks.length, text: current.join(' ') });
      n += 1;
      const carried: string[] = [];
      let carriedLength = 0;
      for (let i = current.length - 1; i > 0; i--) {
        const s = current[i]!;
        if (carriedLength + s.length > overlap) break;
        carried.unshift(s);
        carriedLength += s.length + 1;
      }
      current = carried;
      length = carriedLength;
      fresh = 0;
    };
    for (const s of splitSentences(note.text)) {
      if (length + s.length > size && fresh > 0) cut();
      current.push(s);
      length += s.length + 1;
      fresh += 1;
    }
    if (fresh > 0) cut();
  }
  return chunks;
}

/** The top-k chunks by BM25 for the query, returned in their original order. */
export function retrieveChunks(chunks: Chunk[], query: string, topK: number): Chunk[] {
  if (chunks.length <= topK) return chunks;
  const index = new MiniSearch<Chunk>({ fields: ['text'], storeFields: ['id'], idField: 'id' });
  index.addAll(chunks);
  const hits = index.search(query, { combineWith: 'OR' }).slice(0, topK);
  const wanted = new Set(hits.map((h) => h.id as string));
  const picked = hits.length ? chunks.filter((c) => wanted.has(c.id)) : chunks.slice(0, topK);
  return picked.sort((a, b) => a.order - b.order);
}
