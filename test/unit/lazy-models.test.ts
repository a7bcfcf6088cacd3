// Under test: what a function's process loads. The NER model (compromise: ~0.8 s of CPU and ~40 MB to load) and the
// openai SDK are not loaded by the composition root every local handler process starts from: the model when entities
// are first extracted, the SDK by the first call to a model; extracting before the model is loaded says so.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { extractEntities } from '../../src/domain/enrich/extractors.ts';

/** Packages a fresh Node process resolves while it runs `script` (an ES module body), in order. */
function packagesLoadedBy(script: string): string[] {
  const hook = `import { registerHooks } from 'node:module';
registerHooks({ resolve(spec, ctx, next) { if (/^[@a-z]/.test(spec) && !spec.startsWith('node:')) process.stdout.write('pkg:' + spec + '\\n'); return next(spec, ctx); } });`;
  const out = execFileSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, '--input-type=module', '-e', script], { encoding: 'utf8', cwd: process.cwd() });
  return out
    .split('\n')
    .filter((l) => l.startsWith('pkg:') || l.startsWith('mark:'))
    .map((l) => (l.startsWith('pkg:') ? l.slice(4).split('/')[0]! : l));
}

describe('the NER model', () => {
  it('is loaded by the first entity extraction; neither it nor the openai SDK by the runtime that hosts every function', () => {
    const loaded = packagesLoadedBy(`
      await import(${JSON.stringify(new URL('../../src/local/runtime.ts', import.meta.url).href)});
      console.log('mark:runtime');
      const { createOfflineProvider } = await import(${JSON.stringify(new URL('../../src/domain/enrich/offline-provider.ts', import.meta.url).href)});
      const { loadProfile } = await import(${JSON.stringify(new URL('../../src/profiles/profile.ts', import.meta.url).href)});
      const profile = loadProfile('claims');
      const notes = [{ noteId: '1', text: 'Insured Noah Rossi called from Oak Hill about the water damage.', line: 2, values: {}, attributes: {} }];
      await createOfflineProvider().enrich({ profile, notes, retrieved: notes.map((n) => ({ text: n.text })), stages: profile.outputs.map((o) => o.name) });
      console.log('mark:enriched');`);
    const runtime = loaded.indexOf('mark:runtime');
    expect(runtime).toBeGreaterThan(0);
    expect(loaded.slice(0, runtime)).toContain('@aws-sdk'); // the hook saw the runtime's packages
    expect(loaded.slice(0, runtime)).not.toContain('compromise');
    expect(loaded.slice(0, runtime)).not.toContain('openai'); // the SDK too: imported by the first model call (test/integration/llm.test.ts)
    expect(loaded.slice(runtime, loaded.indexOf('mark:enriched'))).toContain('compromise');
  });

  it('asked for before it is loaded, names what to do', () => {
    // This worker has not loaded it: nothing imported here extracts entities with NER.
    expect(() => extractEntities('Noah Rossi in Oak Hill', [{ name: 'people', from: { source: 'ner', tag: 'people' } }], () => [])).toThrow(/loadEntityModel/);
  });
});
