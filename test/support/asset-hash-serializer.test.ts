/** The snapshot serializer masks CDK asset hashes only: any other 64-hex string stays visible. */
const serializer = require('./asset-hash-serializer') as { test(value: unknown): boolean; serialize(value: string): string };

const HASH = 'a'.repeat(40) + '0123456789abcdef01234567';

test('a Lambda bundle key and a container image tag are masked', () => {
  expect(serializer.test(`${HASH}.zip`)).toBe(true);
  expect(serializer.serialize(`${HASH}.zip`)).toBe('"[ASSET-HASH].zip"');
  const image = `123456789012.dkr.ecr.us-west-1.\${AWS::URLSuffix}/cdk-hnb659fds-container-assets-123456789012-us-west-1:${HASH}`;
  expect(serializer.test(image)).toBe(true);
  expect(serializer.serialize(image)).toBe(JSON.stringify(image.replace(HASH, '[ASSET-HASH]')));
});

test('any other 64-hex string is left alone (a pinned digest, a config hash)', () => {
  for (const value of [HASH, `sha256=${HASH}`, `https://example.com/envoy-${HASH}`, `${HASH}.tar.gz`, `x${HASH}.zip`]) {
    expect({ value, masked: serializer.test(value) }).toEqual({ value, masked: false });
  }
});
