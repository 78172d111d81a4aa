// Tests run on Node 20 on purpose (the machine's Node); the SDK's "use Node 22" notice is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// No test may reach AWS: fail fast instead of looking for credentials on the machine.
process.env.AWS_EC2_METADATA_DISABLED = 'true';
