/**
 * The local clients' request signer. The loopback emulators read a request's Authorization header for its region
 * and service but verify no signature (dynalite checks the header's form, fauxqs takes the region from it, the disk
 * S3 ignores it), so SigV4's HMAC chain per request and the SHA-256 of every S3 body are pure cost here: measured, a
 * handler process spent ~5 % of its CPU in them. This signer writes a well-formed header with no signature.
 * Deployed, the SDK's own SigV4 signer signs (this is used by `localClients` only). Written here: the SDK ships a
 * signer that omits the header (NoAuthSigner), which dynalite refuses, and none that writes an unsigned one.
 */
interface Request {
  headers: Record<string, string>;
}

export class LoopbackSigner {
  async sign<R extends Request>(request: R, identity: { accessKeyId: string }, props: { signingRegion?: string; signingName?: string; region?: string; name?: string } = {}): Promise<R> {
    const at = new Date().toISOString().replace(/[-:]|\.\d{3}/g, ''); // 20261204T204131Z
    // The endpoint's auth scheme names them (S3), else the client's auth option (DynamoDB, SQS).
    const service = props.signingName ?? props.name ?? 'unknown';
    const region = props.signingRegion ?? props.region ?? 'us-east-1';
    request.headers['x-amz-date'] = at;
    // An S3 body is not hashed: the emulator reads the header only to tell an aws-chunked upload, set before signing.
    if (service === 's3' && !Object.keys(request.headers).some((h) => h.toLowerCase() === 'x-amz-content-sha256')) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    request.headers.authorization = `AWS4-HMAC-SHA256 Credential=${identity.accessKeyId}/${at.slice(0, 8)}/${region}/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`;
    return request;
  }
}

/** Client options that sign with the LoopbackSigner (the SDK's SigV4 scheme, its identity, this signer). */
export const loopbackAuth = () => ({
  httpAuthSchemes: [{ schemeId: 'aws.auth#sigv4', identityProvider: (ipc: { getIdentityProvider(id: string): unknown }) => ipc.getIdentityProvider('aws.auth#sigv4'), signer: new LoopbackSigner() }],
});
