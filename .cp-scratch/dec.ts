import { messageType } from '../lib/control-plane/runtime/protos';
for (const n of ['google.protobuf.Value','google.protobuf.Any','google.protobuf.ListValue','google.protobuf.Duration','google.protobuf.UInt32Value','google.rpc.Status']) console.log(n, Object.keys(messageType(n).fields));
