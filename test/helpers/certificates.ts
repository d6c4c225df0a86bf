/** Real X.509 certificates made for a test: a CA, a server certificate for localhost, client certificates. */
import { generate } from 'selfsigned';

export interface Pem {
  cert: string;
  key: string;
}

const options = { keyType: 'ec', algorithm: 'sha256' } as const;

export async function makeCa(name = 'longrun test CA'): Promise<Pem> {
  const pems = await generate([{ name: 'commonName', value: name }], {
    ...options,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** For localhost, 127.0.0.1 and ::1, signed by `ca`. */
export function serverCertificate(ca: Pem): Promise<Pem> {
  return signedServerCertificate(ca, 'localhost', [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }]);
}

/** A client certificate whose subject is CN=`commonName`, O=Example, signed by `ca`. */
export async function clientCertificate(ca: Pem, commonName: string): Promise<Pem> {
  const pems = await generate(
    [
      { name: 'commonName', value: commonName },
      { name: 'organizationName', value: 'Example' },
    ],
    {
      ...options,
      ca: { cert: ca.cert, key: ca.key },
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true },
        { name: 'extKeyUsage', clientAuth: true },
      ],
    },
  );
  return { cert: pems.cert, key: pems.private };
}

/** A server certificate for the DNS name `host` only, signed by `ca`. */
export function hostCertificate(ca: Pem, host: string): Promise<Pem> {
  return signedServerCertificate(ca, host, [{ type: 2, value: host }]);
}

async function signedServerCertificate(ca: Pem, commonName: string, altNames: ({ type: 2; value: string } | { type: 7; ip: string })[]): Promise<Pem> {
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    ...options,
    ca: { cert: ca.cert, key: ca.key },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}
