export {
  exchangeOf,
  type FairmindFastifyOptions,
  type FrameworkErrorOptions,
  fairmind,
  frameworkErrorHandler,
  type GuardedHandler,
  type GuardedRoute,
  guarded,
  handle,
  type Mountable,
  mount,
  notFoundHandler,
  problemErrorHandler,
  use,
} from './adapter/index.js';
export type { FastifyCompressionOptions } from './compression/index.js';
