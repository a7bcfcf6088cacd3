/**
 * Seeded generator of synthetic claim-note files: realistic, varied adjuster notes over a set of claims,
 * some longer than 4,000 characters, with optional invalid rows, exact duplicates and key conflicts.
 * Every claim has a hidden theme (its true cause) and expected building-coverage outcome, for tests.
 */

export interface GeneratorOptions {
  seed: number;
  claims: number;
  /** Average notes per claim (at least 1 each). */
  notesPerClaim: number;
  /** Share of claims with one very long (> 4,000 characters) note. */
  longNoteShare: number;
  invalidRows: number;
  duplicateRows: number;
  conflictRows: number;
}

export interface GeneratedClaim {
  claimId: string;
  theme: Theme;
  lob: string;
  buildingDamage: boolean;
}

export type Theme = 'water' | 'fire' | 'wind_hail' | 'theft' | 'collision' | 'liability' | 'flood';

export { prng } from '../../src/domain/random.ts';
import { prng } from '../../src/domain/random.ts';

const FIRST = ['Maria', 'James', 'Aisha', 'Tom', 'Priya', 'Daniel', 'Sofia', 'Liam', 'Chen', 'Fatima', 'Noah', 'Grace', 'Omar', 'Ella', 'Mateo'];
const LAST = ['Garcia', 'Smith', 'Khan', 'Nguyen', 'Patel', 'Okafor', 'Rossi', 'Murphy', 'Silva', 'Kowalski', 'Haddad', 'Jensen'];
const CITIES = ['Springfield', 'Riverton', 'Lakeside', 'Fairview', 'Oak Hill', 'Millbrook', 'Cedar Falls', 'Bridgeport'];
const VENDORS = ['Acme Restoration', 'BlueLine Plumbing', 'Summit Roofing', 'ClearView Glass', 'Pioneer Contractors', 'RapidDry Services'];
const ADJUSTERS = ['adj.kim', 'adj.lopez', 'adj.osei', 'adj.walsh', 'adj.brennan'];

const THEMES: Record<Theme, { building: boolean; openers: string[]; details: string[]; parts: string[] }> = {
  water: {
    building: true,
    openers: [
      'Insured called to report a pipe burst in the upstairs bathroom overnight.',
      'Reported water damage from a leaking water heater in the basement.',
      'Insured states the washing machine supply line failed and water leaked for several hours.',
      'Sewer backup into the lower level reported by the insured this morning.',
    ],
    details: [
      'Water came through the kitchen ceiling and saturated the drywall below.',
      'The flooring in the hallway is buckled and the subfloor is soft.',
      'Mitigation vendor {vendor} set up drying equipment and moisture readings remain high in the walls.',
      'Plumber confirmed the burst pipe was in the exterior wall and has been repaired.',
      'Signs of mold behind the baseboards; containment recommended before demolition.',
    ],
    parts: ['ceiling', 'drywall', 'flooring', 'walls', 'subfloor', 'basement'],
  },
  fire: {
    building: true,
    openers: [
      'Kitchen fire reported; fire department attended and extinguished the flames.',
      'Insured reports an electrical fire that started in the garage.',
      'Small fire in the living room caused by a candle, smoke throughout the home.',
    ],
    details: [
      'Smoke and soot damage to the ceiling and upper walls of the kitchen.',
      'The roof rafters above the garage are charred and the structure needs an engineer review.',
      'Cabinets and countertops burned; the window frames are scorched.',
      'Fire report number obtained from the {city} fire department.',
    ],
    parts: ['ceiling', 'walls', 'roof', 'rafters', 'window', 'garage'],
  },
  wind_hail: {
    building: true,
    openers: [
      'Severe storm with high wind passed through {city} last night; insured reports roof damage.',
      'Hail storm reported in the area; insured noticed dents and broken shingles.',
      'A tree fell on the house during the storm according to the insured.',
    ],
    details: [
      'Several shingles were blown off and the gutters are detached on the north side.',
      'Hail damage to the siding and two windows cracked.',
      'Roof inspection by {vendor} found granule loss consistent with hail.',
      'Tarp placed on the roof to prevent further water entry into the attic.',
    ],
    parts: ['roof', 'shingles', 'gutters', 'siding', 'windows', 'attic'],
  },
  theft: {
    building: false,
    openers: [
      'Insured reports a burglary while the family was away for the weekend.',
      'Theft of jewelry and electronics reported; police report filed.',
    ],
    details: [
      'Stolen items include a laptop, a television and two watches.',
      'Police report number provided; no arrests so far.',
      'Insured is compiling receipts for the missing items.',
      'Contents only claim; no damage to the dwelling found at inspection.',
    ],
    parts: [],
  },
  collision: {
    building: false,
    openers: [
      'Vehicle collision at an intersection in {city}; insured was rear-ended while stopped.',
      'Insured vehicle struck by another car in a parking lot.',
    ],
    details: [
      'Damage to the rear bumper and trunk; vehicle is drivable.',
      'Other driver admitted fault at the scene; exchange of information completed.',
      'Estimate from the body shop received for review.',
      'No injuries reported by either party.',
    ],
    parts: [],
  },
  liability: {
    building: false,
    openers: [
      'Third party slipped on the icy front steps and reports a wrist injury.',
      'Visitor tripped over a garden hose and claims bodily injury.',
    ],
    details: [
      'Claimant attended urgent care; medical bills requested.',
      'Insured states the area was salted that morning.',
      'Statement taken from the claimant by phone.',
      'No damage to the building; liability only.',
    ],
    parts: [],
  },
  flood: {
    building: true,
    openers: [
      'River overflowed after heavy rain and the basement flooded.',
      'Flooding in the neighborhood; rising water entered the ground floor.',
    ],
    details: [
      'Water line about two feet up the walls on the ground floor.',
      'Furnace and water heater in the basement were submerged.',
      'Drywall and insulation removed up to four feet by {vendor}.',
      'Flood zone confirmed; coverage review pending.',
    ],
    parts: ['basement', 'walls', 'drywall', 'insulation', 'floor'],
  },
};

const FILLER = [
  'Called the insured to confirm the details and explain the claim process.',
  'Left a voicemail for the insured requesting photos of the damage.',
  'Insured was cooperative and provided the requested documents by email.',
  'Reviewed the policy declarations; deductible confirmed with the insured.',
  'Scheduled a field inspection for next week at the insured location.',
  'Received photos from the insured; they are consistent with the reported loss.',
  'Reserve set based on the initial estimate and will be reviewed after inspection.',
  'Sent the acknowledgement letter and the claim number to the insured.',
  'Insured asked about additional living expenses; explained the limits.',
  'Followed up with the vendor about the timeline for repairs.',
];

/** Generates the rows (header first) and the claims' hidden labels. */
export function generateClaims(o: GeneratorOptions): { header: string[]; rows: Array<Array<string | Buffer>>; claims: GeneratedClaim[] } {
  const rnd = prng(o.seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const themes = Object.keys(THEMES) as Theme[];
  const fill = (s: string) => s.replace('{vendor}', pick(VENDORS)).replace('{city}', pick(CITIES));
  const header = ['CLAIMNO', 'NOTEID', 'FN_TEXT', 'LOBCD', 'FN_CRT_DT', 'AUTHOR', 'LOSS_DT', 'REGION'];
  const rows: Array<Array<string | Buffer>> = [];
  const claims: GeneratedClaim[] = [];
  for (let c = 0; c < o.claims; c++) {
    const theme = pick(themes);
    const spec = THEMES[theme];
    const claimId = `CLM-${String(100000 + c)}`;
    const lob = theme === 'collision' ? pick(['15', '17', '21']) : rnd() < 0.93 ? pick(['15', '17']) : '40';
    const person = `${pick(FIRST)} ${pick(LAST)}`;
    const lossDay = new Date(Date.UTC(2025, Math.floor(rnd() * 12), 1 + Math.floor(rnd() * 27)));
    const notes = Math.max(1, Math.round(o.notesPerClaim * (0.5 + rnd())));
    const long = rnd() < o.longNoteShare;
    claims.push({ claimId, theme, lob, buildingDamage: spec.building });
    for (let n = 0; n < notes; n++) {
      const day = new Date(lossDay.getTime() + (n + 1) * 86400000 * (1 + Math.floor(rnd() * 3)));
      let text: string;
      if (n === 0) {
        text = `${fill(pick(spec.openers))} Insured ${person} confirmed the date of loss ${lossDay.toISOString().slice(0, 10)}. ${fill(pick(spec.details))}`;
      } else if (rnd() < 0.25) {
        text = pick(['Called insured, no answer.', 'Awaiting documents.', 'File reviewed.', 'Photos received.']);
      } else {
        text = `${fill(pick(FILLER))} ${fill(pick(spec.details))} ${fill(pick(FILLER))}`;
      }
      if (long && n === notes - 1) {
        const parts: string[] = [`Detailed inspection report for ${claimId} prepared after the site visit in ${pick(CITIES)}.`];
        while (parts.join(' ').length < 4300) parts.push(fill(pick(rnd() < 0.5 ? spec.details : FILLER)));
        if (spec.parts.length) parts.push(`Damaged building components noted: ${spec.parts.slice(0, 3).join(', ')}.`);
        text = parts.join(' ');
      }
      rows.push([claimId, String(n + 1), text, lob, day.toISOString().slice(0, 10), pick(ADJUSTERS), lossDay.toISOString().slice(0, 10), pick(['north', 'south', 'east', 'west'])]);
    }
  }
  // Shuffle a little so a claim's notes are not always contiguous (real extracts are not).
  for (let i = rows.length - 1; i > 0; i--) {
    if (rnd() < 0.3) {
      const j = Math.max(0, i - 1 - Math.floor(rnd() * 5));
      [rows[i], rows[j]] = [rows[j]!, rows[i]!];
    }
  }
  const at = () => 1 + Math.floor(rnd() * (rows.length - 1));
  for (let d = 0; d < o.duplicateRows; d++) rows.splice(at(), 0, [...rows[Math.floor(rnd() * rows.length)]!]);
  for (let d = 0; d < o.conflictRows; d++) {
    const copy = [...rows[Math.floor(rnd() * rows.length)]!];
    copy[2] = `${String(copy[2])} Corrected entry: reserve amended.`;
    rows.splice(at(), 0, copy);
  }
  const invalid: Array<(claim: string) => Array<string | Buffer>> = [
    (claim) => [claim, 'X1', 'Note with a date that does not exist, entered by mistake during migration of the file system.', '15', '2025-02-30', 'adj.kim', '', 'north'],
    (claim) => [claim, 'X2', '', '15', '2025-03-01', 'adj.kim', '', 'north'],
    (claim) => ['', 'X3', 'A note without a claim number that cannot be grouped with any claim in the extract at all.', '15', '2025-03-02', 'adj.osei', '', 'south'],
    (claim) => [claim, 'X4', Buffer.from([0x57, 0x61, 0x74, 0x65, 0x72, 0x20, 0xff, 0xfe, 0x20, 0x6c, 0x65, 0x61, 0x6b]), '17', '2025-03-03', 'adj.lopez', '', 'east'],
    (claim) => [claim, 'X5', 'Pasted from a terminal \u0007 with a bell character inside the note text body here.', '17', '2025-03-04', 'adj.lopez', '', 'east'],
    (claim) => [claim, 'X6', 'Loss date typed as words instead of a date in the extract.', '15', 'yesterday', 'adj.walsh', '', 'west'],
  ];
  for (let k = 0; k < o.invalidRows; k++) rows.splice(at(), 0, invalid[k % invalid.length]!(pick(claims).claimId));
  return { header, rows, claims };
}

/** Serialises rows as CSV bytes (RFC 4180 quoting; Buffers are written as they are, invalid bytes included). */
export function toCsv(header: string[], rows: Array<Array<string | Buffer>>): Buffer {
  const quote = (v: string | Buffer): Buffer => {
    if (Buffer.isBuffer(v)) return Buffer.concat([Buffer.from('"'), v, Buffer.from('"')]);
    return Buffer.from(/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  };
  const lines: Buffer[] = [Buffer.from(`${header.join(',')}\r\n`)];
  for (const row of rows) {
    const cells = row.map(quote);
    const parts: Buffer[] = [];
    cells.forEach((c, i) => {
      if (i) parts.push(Buffer.from(','));
      parts.push(c);
    });
    parts.push(Buffer.from('\r\n'));
    lines.push(Buffer.concat(parts));
  }
  return Buffer.concat(lines);
}
