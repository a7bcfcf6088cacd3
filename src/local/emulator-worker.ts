/** The emulator thread: starts the emulators here, reports their endpoints and uploads, stops on request. */
import { parentPort, workerData } from 'node:worker_threads';
import { type EmulatorOptions, type WorkerMessage, startEmulators } from './emulators.ts';

const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);
try {
  const emulators = await startEmulators({ ...(workerData as EmulatorOptions), onObjectCreated: (upload) => post({ kind: 'created', upload }) });
  port.on('message', async (m) => {
    if (m !== 'stop') return;
    await emulators.stop();
    // Ends this thread only, even if a closed server left a handle behind.
    process.exit(0);
  });
  post({ kind: 'up', endpoints: emulators.endpoints });
} catch (err) {
  post({ kind: 'failed', message: (err as Error).message, code: (err as { code?: string }).code });
  port.close();
}
