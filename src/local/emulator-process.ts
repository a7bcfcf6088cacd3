/** The emulator process: starts the emulators here, reports their endpoints and uploads, stops on request. */
import { runHelper } from './child-process.ts';
import { type EmulatorOptions, type S3Upload, startEmulators } from './emulators.ts';

runHelper<EmulatorOptions, { endpoints: { s3: string; sqs: string; dynamodb: string } }, { kind: 'created'; upload: S3Upload }>(async (options, send) => {
  const emulators = await startEmulators({ ...options, onObjectCreated: (upload) => send({ kind: 'created', upload }) });
  return { up: { endpoints: emulators.endpoints }, stop: () => emulators.stop() };
});
