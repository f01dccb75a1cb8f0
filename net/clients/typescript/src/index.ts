// coffer-client: a TypeScript/Node client of cofferd (net/PROTOCOL.md).
export * from "./protocol";
export * from "./errors";
export * from "./codec";
export * from "./ops";
export { initChecksum, xxh3 } from "./xxh3";
export { Client } from "./client";
export type { ClientOptions, CallOptions, ApplyOptions, HistoryOptions, ServerInfo } from "./client";
