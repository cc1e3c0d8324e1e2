export {
  exchangeOf,
  type FairmindFastifyOptions,
  type FrameworkErrorOptions,
  fairmind,
  frameworkErrorHandler,
  handle,
  type Mountable,
  mount,
  notFoundHandler,
  problemErrorHandler,
} from './adapter/index.js';
export type { FastifyCompressionOptions } from './compression/index.js';
