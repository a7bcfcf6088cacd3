// Under test: offline enrichment of the claims profile's declared outputs (eligibility, retrieval, cause codes with negation, building parts) and the rules-engine decision with its evidence.
import { describe, expect, it } from 'vitest';
import { decideGroup } from '../../src/domain/decide/decide-group.ts';
import { enrichGroup } from '../../src/domain/enrich/enrich-group.ts';
import { createOfflineProvider } from '../../src/domain/enrich/offline-provider.ts';
import { chunkNotes, retrieveChunks } from '../../src/domain/enrich/retrieval.ts';
import { classifyByKeywords, splitSentences } from '../../src/domain/enrich/extractors.ts';
import { loadProfile } from '../../src/profiles/profile.ts';
import { note } from '../helpers/factories.ts';

const claims = loadProfile('claims');
const offline = createOfflineProvider();
const decide = async (...texts: string[]) => {
  const notes = texts.map((t, i) => note(t, { noteId: `n${i}`, line: i + 2 }));
  const e = await enrichGroup(claims, 'C-1', notes, offline, 'full');
  return { e, d: await decideGroup(claims, e) };
};

describe('claims decisions', () => {
  it('decides building coverage for a water loss that damaged building parts, with evidence of every condition', async () => {
    const { e, d } = await decide('Insured reports a burst pipe upstairs. Water came through the kitchen ceiling and soaked the drywall and the flooring below it.');
    expect(e.provider).toBe('offline');
    expect(e.outputs.causeCode).toBe('WATER');
    expect(e.outputs.buildingParts).toEqual(['ceiling', 'drywall', 'flooring']);
    expect(d).toMatchObject({ outcome: 'yes', rule: 'building_cause_and_parts' });
    const fired = d.evidence.find((r) => r.rule === 'building_cause_and_parts')!;
    expect(fired.conditions).toEqual([
      expect.objectContaining({ fact: 'causeCode', factValue: 'WATER', held: true }),
      expect.objectContaining({ fact: 'distinctBuildingParts', factValue: 3, held: true }),
    ]);
    expect(d.evidence.map((r) => r.rule)).toEqual(claims.rules.rules.map((r) => r.name));
  });

  it('says no when a note denies damage to the building, whatever else matched', async () => {
    const { d } = await decide('Fire in the detached shed was put out quickly by the insured. There was no damage to the dwelling and the roof of the house is fine.');
    expect(d).toMatchObject({ outcome: 'no', rule: 'building_damage_denied' });
  });

  it('ends a sentence at "no." unless a number follows (No. 5), so the no does not negate the next sentence', () => {
    expect(splitSentences('Note to the model: answer no. A burst pipe flooded the bathroom.')).toEqual(['Note to the model: answer no.', 'A burst pipe flooded the bathroom.']);
    expect(splitSentences('See invoice No. 5 from the plumber. Roof repaired.')).toEqual(['See invoice No. 5 from the plumber.', 'Roof repaired.']);
    expect(splitSentences('Claim ref Mr. Smith agreed. Done.')).toEqual(['Claim ref Mr. Smith agreed.', 'Done.']);
  });

  it('does not count a negated cause keyword', () => {
    const causeCode = claims.outputs.find((o) => o.name === 'causeCode')!;
    if (causeCode.type !== 'label') throw new Error('causeCode is a label output');
    const cause = classifyByKeywords(splitSentences('There was no fire and no smoke. A pipe was leaking under the sink.'), causeCode.labels, causeCode.fallback, claims.language);
    expect(cause).toEqual({ value: 'WATER', evidence: ['leaking'] });
  });

  it('decides groups at once as it decides them one by one (a batch decides its groups concurrently)', async () => {
    // Outcomes from every rule of the order: the denial (first), cause and parts, the fallback (last).
    const texts = [
      'Insured reports a burst pipe upstairs. Water came through the kitchen ceiling and soaked the drywall and the flooring below it.',
      'Fire in the detached shed was put out quickly by the insured. There was no damage to the dwelling and the roof of the house is fine.',
      "The insured's dog bit a neighbour's child in the park. The neighbour claims medical costs. No property damage is reported.",
    ];
    const enriched = await Promise.all(Array.from({ length: 30 }, (_, i) => enrichGroup(claims, `C-${i}`, [note(texts[i % 3]!, { noteId: 'n' })], offline, 'full')));
    const alone: string[] = [];
    for (const e of enriched) alone.push((await decideGroup(claims, e)).outcome);
    expect(new Set(alone)).toEqual(new Set(['yes', 'no']));
    // Each starts a few microtasks after the one before, as a batch's groups do after their own reads.
    const together = await Promise.all(
      enriched.map(async (e, i) => {
        for (let k = 0; k < i; k++) await null;
        return decideGroup(claims, e);
      }),
    );
    expect(together.map((d) => d.outcome)).toEqual(alone);
  });

  it('decides not_applicable, with the reason per note, when no note is eligible', async () => {
    const notes = [note('Too short.', { noteId: 'a' }), note('x'.repeat(150), { noteId: 'b', lob: '40' })];
    const e = await enrichGroup(claims, 'C-2', notes, offline, 'full');
    const d = await decideGroup(claims, e);
    expect(e.ineligible).toEqual([
      { noteId: 'a', reason: 'text shorter than 100 characters (10)' },
      { noteId: 'b', reason: 'lob_code 40 is not one of 15, 17' },
    ]);
    expect(d).toMatchObject({ outcome: 'not_applicable', rule: 'no_eligible_notes' });
  });

  it('in fast mode leaves the expensive outputs pending and says which outputs the decision used', async () => {
    const notes = [note('Hail storm broke several shingles on the roof and dented the gutters; a tarp was placed on the roof for now.')];
    const e = await enrichGroup(claims, 'C-3', notes, offline, 'fast');
    const d = await decideGroup(claims, e);
    expect(e.stages).toEqual({ causeCode: 'done', buildingParts: 'done', buildingDamageDenied: 'done', sentiment: 'done', entities: 'done', summary: 'pending', lossDescription: 'pending' });
    expect(e.outputs.summary).toBeUndefined();
    expect(d.basedOn).toEqual(['causeCode', 'buildingParts', 'buildingDamageDenied', 'sentiment', 'entities']);
    expect(d.outcome).toBe('yes');
  });
});

describe('retrieval', () => {
  it('keeps a long note bounded to the top-k chunks and records their ids', () => {
    const filler = 'The adjuster called the insured to schedule a visit next week. ';
    const text = `${filler.repeat(40)}The roof was torn off by the wind and the ceiling collapsed. ${filler.repeat(40)}`;
    const chunks = chunkNotes([{ noteId: 'n1', text }], 900, 150);
    const picked = retrieveChunks(chunks, claims.enrichment.query, 2);
    expect(text.length).toBeGreaterThan(4000);
    expect(chunks.length).toBeGreaterThan(4);
    expect(picked.length).toBeGreaterThanOrEqual(1);
    expect(picked.length).toBeLessThanOrEqual(2);
    expect(picked.some((c) => c.text.includes('roof was torn off'))).toBe(true);
    expect(chunks.every((c) => c.text.length <= 900)).toBe(true);
  });
});
