/** An improvement run's state between the state machine's steps: objects under `improve/<runId>/` in the config bucket. */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { RunStateStore } from '../improve/steps.ts';

export function createRunStates(s3: S3Client, bucket: string): RunStateStore {
  const get = async <T>(Key: string): Promise<T | undefined> => {
    try {
      const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
      return JSON.parse(await r.Body!.transformToString('utf8')) as T;
    } catch (err) {
      if ((err as Error).name === 'NoSuchKey' || (err as Error).name === 'NotFound') return undefined;
      throw err;
    }
  };
  const put = async (Key: string, value: unknown) => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: JSON.stringify(value), ContentType: 'application/json' }));
  };
  return {
    getState: (runId) => get(`improve/${runId}/state.json`),
    putState: (state) => put(`improve/${state.runId}/state.json`, state),
    putTried: (runId, loop, index, tried) => put(`improve/${runId}/loop-${loop}/${index}.json`, tried),
    getTried: (runId, loop, index) => get(`improve/${runId}/loop-${loop}/${index}.json`),
  };
}
