export {
  exchangeOf,
  type FairmindEnv,
  type FairmindHonoOptions,
  type FairmindVariables,
  fairmind,
  handle,
  type Mountable,
  mount,
  notFoundHandler,
  problemHandler,
  toResponse,
} from './adapter/index.js';
export {
  type CompressionEncoder,
  createResponseCompression,
  type HonoCompressionOptions,
  type NodeAttach,
  type NodeBackendOptions,
  type ResponseCompression,
  webEncoder,
} from './compression/index.js';
