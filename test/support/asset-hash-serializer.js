// Masks CDK asset hashes in snapshots, and nothing else, so that a change to runtime code does
// not churn every template snapshot while a changed digest anywhere else in a template (a
// pinned sha256, a config hash) still shows in the diff. An asset hash appears in exactly two
// places of our templates: a Lambda bundle's S3 key (`<hash>.zip`) and a container image's
// tag in the bootstrap's container-assets repository (`...container-assets-<account>-<region>:<hash>`).
const ASSET_PATTERNS = [
  { pattern: /^[0-9a-f]{64}(\.zip|\.json)$/, replace: (value) => value.replace(/^[0-9a-f]{64}/, '[ASSET-HASH]') },
  { pattern: /container-assets-[0-9]+-[a-z0-9-]+:[0-9a-f]{64}$/, replace: (value) => value.replace(/[0-9a-f]{64}$/, '[ASSET-HASH]') },
];
const matching = (value) => ASSET_PATTERNS.find(({ pattern }) => pattern.test(value));
module.exports = {
  test: (value) => typeof value === 'string' && matching(value) !== undefined,
  serialize: (value) => JSON.stringify(matching(value).replace(value)),
};
