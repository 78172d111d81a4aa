// Masks asset hashes (64 hex chars) and bundle file names in snapshots so that a change to
// runtime code does not churn every template snapshot; what the template wires stays visible.
const HASH = /[0-9a-f]{64}/g;
module.exports = {
  test: (value) => typeof value === 'string' && HASH.test(value) && ((HASH.lastIndex = 0), true),
  serialize: (value) => JSON.stringify(value.replace(HASH, '[ASSET-HASH]')),
};
