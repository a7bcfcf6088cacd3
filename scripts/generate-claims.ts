/**
 * Writes a synthetic claim-notes CSV: `npm run generate -- --claims 3000 --out big.csv [--seed 7]`.
 * The bundled sample (samples/claims-notes.csv) is this generator's output with its defaults.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { generateClaims, toCsv } from './lib/claims-generator.ts';

const { values } = parseArgs({
  options: {
    claims: { type: 'string', default: '100' },
    'notes-per-claim': { type: 'string', default: '4' },
    seed: { type: 'string', default: '42' },
    invalid: { type: 'string', default: '6' },
    duplicates: { type: 'string', default: '5' },
    conflicts: { type: 'string', default: '1' },
    'long-share': { type: 'string', default: '0.08' },
    out: { type: 'string', default: 'samples/claims-notes.csv' },
    labels: { type: 'string' },
  },
});
const { header, rows, claims } = generateClaims({
  seed: Number(values.seed),
  claims: Number(values.claims),
  notesPerClaim: Number(values['notes-per-claim']),
  longNoteShare: Number(values['long-share']),
  invalidRows: Number(values.invalid),
  duplicateRows: Number(values.duplicates),
  conflictRows: Number(values.conflicts),
});
writeFileSync(values.out!, toCsv(header, rows));
if (values.labels) writeFileSync(values.labels, `${claims.map((c) => JSON.stringify(c)).join('\n')}\n`);
process.stderr.write(`wrote ${rows.length} rows over ${claims.length} claims to ${values.out}\n`);
