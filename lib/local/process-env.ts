/**
 * Imported first by the local entry points (`npm start`, the demo, the benches), before any
 * AWS SDK module loads: every SDK client talks to a local emulator, so no credentials are
 * looked for, and the SDK's "Node 20 is nearly unsupported" notice is noise here.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.AWS_EC2_METADATA_DISABLED ??= 'true';

export {};
