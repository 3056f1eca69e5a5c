// The RPC server core: what programs (portmap, MOUNT, NFS) and the CLI import.

export { RpcServer, DEFAULT_MAX_RECORD_SIZE } from './rpc-server.js';
export type { RpcServerOptions, ListenOptions, CloseOptions, ServerStats } from './rpc-server.js';
export { ProgramRegistry, implement, procedure, nullProcedure } from './program.js';
export type {
  CallContext,
  CallCredentials,
  ClientAddress,
  ProcedureSpec,
  RpcProcedure,
  RpcProgram,
  RpcVersion,
} from './program.js';
export { CallRefused } from './call-refused.js';
export type { Refusal } from './call-refused.js';
export { requirePrivilegedPort, PRIVILEGED_PORT_LIMIT } from './admission.js';
export type { AdmissionDecision, AdmissionPolicy, CallInfo, PrivilegedPortOptions } from './admission.js';
export type { DrcOptions } from './drc.js';
export { OncePerKeyWarning, silentLogger } from './logger.js';
export type { Logger, LogFields, LogLevel } from './logger.js';
