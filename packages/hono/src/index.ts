// The Web Response compressor is framework-free and lives in @fairmind/edge/web; these are the
// names this package has always exported it under.
export {
  type CompressionEncoder,
  createResponseCompression,
  type NodeAttach,
  type NodeBackendOptions,
  type ResponseCompression,
  type ResponseCompressionOptions as HonoCompressionOptions,
  webEncoder,
} from '@fairmind/edge/web';
export {
  exchangeOf,
  type FairmindEnv,
  type FairmindHonoOptions,
  type FairmindVariables,
  fairmind,
  type GuardedEnv,
  type HonoUseOptions,
  handle,
  type Mountable,
  mount,
  notFoundHandler,
  problemHandler,
  toResponse,
  use,
} from './adapter/index.js';
