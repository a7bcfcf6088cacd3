// Under test: what the deploy docs say the stack does, against cdk.json and the stack: the OpenAI secret is the
// operator's to create (the stack creates none and reads it by name), with the command for each stage's name.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const stages = JSON.parse(readFileSync('cdk.json', 'utf8')).context['sluice:stages'] as Record<string, { openAiSecretName: string }>;
const deploying = readFileSync('docs/deploying.md', 'utf8');
/** The README's "Deploying" section only (its CLI sections are generated and tested elsewhere). */
const readmeDeploying = /^## Deploying\n([\s\S]*?)^## /m.exec(readFileSync('README.md', 'utf8'))?.[1] ?? '';

describe('the deploy docs on the OpenAI secret', () => {
  it('docs/deploying.md gives the command that creates each stage’s secret before its first deploy', () => {
    for (const [stage, { openAiSecretName }] of Object.entries(stages)) {
      expect(deploying, stage).toContain(`aws secretsmanager create-secret --name ${openAiSecretName} `);
    }
    expect(deploying).toMatch(/the stack creates no secret/i);
    expect(deploying).not.toMatch(/issue 5/);
  });

  it("the README's deploy paragraph says the operator creates the secret, with the command", () => {
    expect(readmeDeploying).toContain('aws secretsmanager create-secret --name sluice/dev/openai-api-key ');
    expect(readmeDeploying).toMatch(/the stack creates no secret/i);
  });
});
